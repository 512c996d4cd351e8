"""Shared pytest fixtures.

GL: one headless EGL context per test session (``gl_context``); tests take ``ctx``, which
also checks that the test left no OpenGL error behind (moderngl-window's pattern). Without
EGL the GL tests are skipped with the one-line reason (which names the packages to install).
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def gl_context():
    """The process's shared moderngl context (headless EGL)."""
    from depthfusion.render.gl import GLUnavailableError, get_context

    try:
        return get_context()
    except GLUnavailableError as exc:
        pytest.skip(str(exc))


@pytest.fixture
def ctx(gl_context):
    """The shared context; fails the test if it leaves a GL error (GL_NO_ERROR checked after)."""
    stale = gl_context.error  # reading clears the flag, so each test starts clean
    assert stale == "GL_NO_ERROR", f"a GL error was left by earlier code: {stale}"
    yield gl_context
    assert gl_context.error == "GL_NO_ERROR"
