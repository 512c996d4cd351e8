"""The interactive preview window (``depthfusion preview``), on top of the stages.

- :mod:`.command` -- the command's arguments, checks and entry points (``python -m
  depthfusion.preview``);
- :mod:`.app` -- :class:`Preview`: input, the view, drawing, hot reload, screenshots;
- :mod:`.window` -- the GLFW window and the headless (scripted) backend;
- :mod:`.controls` -- keys, speeds and steps, the view and its keyframe printout;
- :mod:`.script` -- timed input events for automation and tests;
- :mod:`.remesh` -- watching the scene's files, the background re-mesh job;
- :mod:`.overlay` -- text panels and the quad that shows frames.

Nothing is imported here, so ``depthfusion --help`` does not load the window code.
"""
