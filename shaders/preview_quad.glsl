#version 330
// A textured quad that fills the current viewport: the preview window shows the rendered
// frame and the help overlay with it (depthfusion/preview/app.py).
//
// No vertex buffer: the four corners come from gl_VertexID (draw 4 vertices as a
// TRIANGLE_STRIP). Images are uploaded top row first, so the top of the viewport samples
// texture row 0 (v = 0) and no image is flipped on the CPU.
// Colour: the frame is already sRGB bytes and the window's framebuffer is written with
// GL_FRAMEBUFFER_SRGB off, so the bytes reach the screen unchanged (the textures are plain
// RGB8/RGBA8, not sRGB: no decode, no encode). The overlay has straight (non-premultiplied)
// alpha and is drawn with SRC_ALPHA, ONE_MINUS_SRC_ALPHA blending.

#if defined VERTEX_SHADER

out vec2 uv;

void main() {
    vec2 corner = vec2(float(gl_VertexID & 1), float((gl_VertexID >> 1) & 1));  // (0,0) (1,0) (0,1) (1,1)
    uv = vec2(corner.x, 1.0 - corner.y);
    gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
}

#elif defined FRAGMENT_SHADER

uniform sampler2D image;

in vec2 uv;
out vec4 fragColor;

void main() {
    fragColor = texture(image, uv);
}

#endif
