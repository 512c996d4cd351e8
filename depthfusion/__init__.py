"""DepthFusion: RGBD 360° scenes (LDM3D) rendered headlessly as stereo VR.

Data flow: scene file -> source -> RGBD panorama -> sphere mesh -> renderers -> writers.
"""

__version__ = "0.1.0"
