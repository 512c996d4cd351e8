#version 330
// Textured mesh (the displaced panorama sphere) seen through one pinhole eye.
//
// Colour: the texture is sRGB-encoded (GL_SRGB8), so texture() returns linear light and
// mipmapping/anisotropic/bilinear filtering average in linear light; the renderer draws
// into an sRGB framebuffer with GL_FRAMEBUFFER_SRGB enabled, which encodes back. So this
// shader works in linear light and must not apply any gamma itself.
// UVs: u right, v down from the image's top row; the image is uploaded top row first, so
// (u, v) are used as is (no flip).

#if defined VERTEX_SHADER

uniform mat4 m_mvp;

in vec3 in_position;
in vec2 in_texcoord_0;

out vec2 uv;

void main() {
    uv = in_texcoord_0;
    gl_Position = m_mvp * vec4(in_position, 1.0);
}

#elif defined FRAGMENT_SHADER

uniform sampler2D texture0;

in vec2 uv;

out vec4 fragColor;

void main() {
    fragColor = vec4(texture(texture0, uv).rgb, 1.0);
}

#endif
