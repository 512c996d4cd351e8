"""ldm3d_core: the LDM3D model side of the project (RGBD codec, pipelines, depth, training).

Never imports depthfusion or OpenGL.
"""

__version__ = "0.1.0"
