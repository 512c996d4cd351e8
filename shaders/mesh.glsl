#version 330
// Textured mesh (the displaced panorama sphere) seen through one pinhole eye.
//
// Colour: the texture is sRGB-encoded (GL_SRGB8), so texture() returns linear light and
// mipmapping/anisotropic/bilinear filtering average in linear light; the renderer draws
// into an sRGB framebuffer with GL_FRAMEBUFFER_SRGB enabled, which encodes back. So this
// shader works in linear light and must not apply any gamma itself.
// UVs: u right, v down from the image's top row; the image is uploaded top row first, so
// (u, v) are used as is (no flip).
// WITH_ALPHA (defined by the renderer when the mesh has per-vertex alpha): soft silhouettes.
// The alpha goes out with the colour; with MSAA the renderer turns on alpha-to-coverage, so
// it becomes the fraction of covered samples (order-independent); without MSAA
// (alpha_to_coverage false) fragments under 0.5 are discarded, a hard edge at the midpoint.
// WITH_TEXQ (per-vertex projective texture coordinate q): (u q, v q, q) is interpolated and
// the texture sampled at the ratio, so a triangle whose corners were moved along their rays
// from the centre (a discontinuity skirt) keeps the texture mapping it had before the move.
// WITH_ACROSS (per-vertex direction across a depth edge and inverse-distance step; needs
// WITH_TEXQ): view-dependent skirts. A skirt corner arrives at its stretched position (radius
// r0 = |p|; the skirt's radius is r0 q) and moves toward the skirt (in inverse distance) as
// the parallax this eye opens across the edge grows toward skirt_gap: the whole skirt where
// the head move uncovers something behind the edge, the stretched triangle where it moves
// along the edge (and at the centre). See depthfusion/mesh/discontinuities.py, _skirt_across.

#if defined VERTEX_SHADER

uniform mat4 m_mvp;

in vec3 in_position;
in vec2 in_texcoord_0;
#ifdef WITH_ALPHA
in float in_alpha;
out float alpha;
#endif
out vec2 uv;
flat out vec2 uv_anchor;  // the provoking (last) corner's uv: see sample_at
#ifdef WITH_TEXQ
in float in_texq;  // < 0: a projective triangle's corner (the renderer's sign flag), q = |in_texq|
out vec3 uvq;
out float projective;
#endif
#ifdef WITH_BACKGROUND
uniform int first_background_vertex;  // vertices from here on are background layers
uniform float background_bias;  // drawn this much deeper (normalised device depth)
#endif
#ifdef WITH_ACROSS
in vec2 in_across;  // (radians from east toward north, 1/r_near - 1/r_far); step 0 = fixed
uniform vec3 eye_position;  // the eye in mesh coordinates (metres from the capture centre)
uniform float skirt_gap;  // parallax (radians) across an edge from which its skirt is whole
#endif

void main() {
    vec3 p = in_position;
    float slide = 1.0;  // 1 = the corner as given; 0 = back at its stretched radius
    uv = in_texcoord_0;
    uv_anchor = in_texcoord_0;
#ifdef WITH_TEXQ
    float q = abs(in_texq);
#ifdef WITH_ACROSS
    if (in_across.y > 0.0) {
        // Tangent frame as in discontinuities._skirt_across: east = (cos lon, 0, sin lon),
        // north = east x dir (undefined only at the poles, where no grid corner lies).
        vec3 dir = normalize(p);
        vec3 east = normalize(vec3(-dir.z, 0.0, dir.x));
        vec3 north = cross(east, dir);
        // An edge along a grid axis has an angle that is a multiple of pi/2, whose float cos
        // or sin is ~1e-8, not 0: snapped, so that a move along such an edge opens nothing.
        vec2 cs = vec2(cos(in_across.x), sin(in_across.x));
        cs *= step(1e-6, abs(cs));
        vec3 across = cs.x * east + cs.y * north;
        // Any move across the edge: toward the far side it opens a gap behind the edge, the
        // other way the occluder's edge pixels still move with the occluder, not the far side.
        float k = clamp(abs(dot(eye_position, across)) * in_across.y / skirt_gap, 0.0, 1.0);
        if (q != 1.0) {  // a corner the skirt pulled forward (else only its feather slides)
            if (k > 0.0) {
                float r0 = length(p);  // given at its stretched radius; the skirt's is r0 q
                float r = 1.0 / (1.0 / r0 + k * (1.0 / (r0 * q) - 1.0 / r0));
                p = dir * r;
                q = r / r0;
            } else {
                q = 1.0;  // exactly the stretched corner: p as given
            }
        }
        slide = k;
    }
#endif
    uvq = vec3(in_texcoord_0 * q, q);
    // slide 0 (every corner of a view-dependent skirt agrees): a stretched triangle, plain uvs
    projective = in_texq < 0.0 && slide > 0.0 ? 1.0 : 0.0;
#endif
#ifdef WITH_ALPHA
    alpha = mix(1.0, in_alpha, slide);  // a stretched triangle is opaque, as without cuts
#endif
    gl_Position = m_mvp * vec4(p, 1.0);
#ifdef WITH_BACKGROUND
    // The foreground wins every tie with a background layer (the far side of each cut).
    if (gl_VertexID >= first_background_vertex) {
        gl_Position.z += background_bias * gl_Position.w;
    }
#endif
}

#elif defined FRAGMENT_SHADER

uniform sampler2D texture0;

in vec2 uv;
// Texture coordinates stay within uv_margin of the triangle's last corner (the renderer sets
// it to 16 times the widest triangle's extent in u and in v: 16 grid cells). With MSAA a
// pixel centre outside a sliver triangle (one that runs nearly along a ray from the eye:
// rubber sheets, the background layer's pushed-back band) gets perspective-correct uvs
// extrapolated toward infinity, and so do the helper pixels that give the derivatives:
// llvmpipe's anisotropic filter then walks a footprint as wide as the texture, up to seconds
// per triangle (a 320x240 frame took 143 s instead of 0.2 s). The margin is wider than any
// real pixel's footprint, so other pixels sample as before.
uniform vec2 uv_margin;
flat in vec2 uv_anchor;
vec3 sample_at(vec2 st) {
    return texture(texture0, clamp(st, uv_anchor - uv_margin, uv_anchor + uv_margin)).rgb;
}
#ifdef WITH_TEXQ
// Only the projective triangles (skirts) divide: the others sample exactly as without texq.
in vec3 uvq;
in float projective;
#define SAMPLE() sample_at(projective > 0.5 ? uvq.xy / uvq.z : uv)
#else
#define SAMPLE() sample_at(uv)
#endif
#ifdef WITH_ALPHA
in float alpha;
uniform bool alpha_to_coverage;
#endif

out vec4 fragColor;

void main() {
#ifdef WITH_ALPHA
    if (!alpha_to_coverage && alpha < 0.5) {
        discard;
    }
    fragColor = vec4(SAMPLE(), alpha);
#else
    fragColor = vec4(SAMPLE(), 1.0);
#endif
}

#endif
