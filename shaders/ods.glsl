#version 330
// Omnidirectional stereo (ODS) / mono equirectangular projection of the textured mesh.
//
// Per vertex (VERTEX_SHADER): the point in the 360 frame (m_local: world -> frame whose origin
// is the viewpoint and whose -Z is the centre column) is projected onto the eye circle: the
// ray of longitude lon starts at eye * (cos lon, 0, sin lon) (signed eye radius: -ipd/2 = left
// eye, so the left eye looks from the left of every viewing direction) and is tangent to the
// circle, which gives lon = theta - asin(eye / rho) for a point at azimuth theta and
// horizontal distance rho (conventions.py: lon = atan2(x, -z)). The eye radius tapers to 0
// toward the poles (smoothstep between taper.x and taper.y radians of |lat|); the latitude
// depends on that radius, so it is found by a short fixed-point iteration (contracting
// fast: the radius is small next to rho).
//
// Per triangle (GEOMETRY_SHADER): longitudes are unwrapped around the first vertex, so a
// triangle that straddles +-180 degrees stays small, and it is drawn once more shifted by
// 2 pi toward the other image edge (each copy is clipped at its edge: no smear, no gap).
// A triangle with a vertex exactly on the view axis (the mesh's pole copies seen from the
// centre, lon taken from the texture's u) becomes a quad reaching the image's top or bottom
// edge. A triangle that contains the view axis (winds around it) is replaced by a cap from
// its lowest latitude to the pole, pushed slightly back in depth.
//
// Output: x = lon / pi, y = -lat / (pi / 2) (the renderer reads rows top first, as
// renderer.py does), depth = distance from the eye / far. Colour: see mesh.glsl (the renderer
// may instead filter the sRGB values as stored, see render/ods.py).
// WITH_ALPHA: per-vertex coverage of feathered silhouettes, as in mesh.glsl (alpha-to-coverage
// with MSAA, else fragments under 0.5 are discarded).

#if defined VERTEX_SHADER

const float PI = 3.14159265358979;

uniform mat4 m_local;
uniform float eye;
uniform vec2 taper;

in vec3 in_position;
in vec2 in_texcoord_0;
#ifdef WITH_ALPHA
in float in_alpha;
out float v_alpha;
#endif

out vec3 v_sph;  // longitude, latitude (radians), distance from the eye (metres)
out vec2 v_uv;

float eye_radius(float lat) {
    return eye * (1.0 - smoothstep(taper.x, taper.y, abs(lat)));
}

void main() {
    vec3 p = (m_local * vec4(in_position, 1.0)).xyz;
    float rho = length(p.xz);
    float lat = atan(p.y, rho);
    float lon = (in_texcoord_0.x - 0.5) * (2.0 * PI);  // on the view axis: the mesh's own
    float along = rho;  // horizontal distance from the eye along the ray
    if (rho > 1e-6) {
        lon = atan(p.x, -p.z);
        if (eye != 0.0) {
            float r = 0.0;
            for (int i = 0; i < 3; ++i) {
                r = clamp(eye_radius(lat), -0.999 * rho, 0.999 * rho);
                along = sqrt(rho * rho - r * r);
                lat = atan(p.y, along);
            }
            lon -= asin(r / rho);
        }
    }
    v_sph = vec3(lon, lat, length(vec2(along, p.y)));
    v_uv = in_texcoord_0;
#ifdef WITH_ALPHA
    v_alpha = in_alpha;
#endif
}

#elif defined GEOMETRY_SHADER

const float PI = 3.14159265358979;
const float TWO_PI = 6.28318530717959;
const float POLE_EPS = 1e-5;

uniform float inv_far;

layout(triangles) in;
layout(triangle_strip, max_vertices = 12) out;

in vec3 v_sph[];
in vec2 v_uv[];
#ifdef WITH_ALPHA
in float v_alpha[];
out float g_alpha;
#endif

out vec2 g_uv;

float wrap_pi(float a) {
    return a - TWO_PI * floor((a + PI) / TWO_PI);
}

void put(float lon, float lat, float dist, vec2 uv, float alpha) {
    float z = clamp(dist * inv_far, 0.0, 0.999999) * 2.0 - 1.0;  // beyond far: drawn, at the back
    gl_Position = vec4(lon / PI, -lat * (2.0 / PI), z, 1.0);
    g_uv = uv;
#ifdef WITH_ALPHA
    g_alpha = alpha;
#endif
    EmitVertex();
}

void main() {
    vec3 s[3] = vec3[3](v_sph[0], v_sph[1], v_sph[2]);
#ifdef WITH_ALPHA
    float a[3] = float[3](v_alpha[0], v_alpha[1], v_alpha[2]);
#else
    float a[3] = float[3](1.0, 1.0, 1.0);
#endif
    int apex = -1;
    for (int i = 0; i < 3; ++i) {
        if (abs(s[i].y) > 0.5 * PI - POLE_EPS) apex = i;
    }

    if (apex < 0) {
        float winding = wrap_pi(s[1].x - s[0].x) + wrap_pi(s[2].x - s[1].x)
            + wrap_pi(s[0].x - s[2].x);
        if (abs(winding) > PI) {
            // The view axis passes through this triangle: fill the cap above (or below) it.
            float north = s[0].y + s[1].y + s[2].y > 0.0 ? 1.0 : -1.0;
            float edge = north * min(min(north * s[0].y, north * s[1].y), north * s[2].y);
            float dist = (s[0].z + s[1].z + s[2].z) * (1.001 / 3.0);
            vec2 uv = (v_uv[0] + v_uv[1] + v_uv[2]) / 3.0;
            float alpha = (a[0] + a[1] + a[2]) / 3.0;
            put(-PI, edge, dist, uv, alpha);
            put(PI, edge, dist, uv, alpha);
            put(-PI, north * 0.5 * PI, dist, uv, alpha);
            put(PI, north * 0.5 * PI, dist, uv, alpha);
            EndPrimitive();
            return;
        }
    }

    // Unwrap longitudes around a vertex that is not on the axis.
    int ref = apex == 0 ? 1 : 0;
    for (int i = 0; i < 3; ++i) {
        s[i].x = s[ref].x + wrap_pi(s[i].x - s[ref].x);
    }
    float lo = min(min(s[0].x, s[1].x), s[2].x);
    float hi = max(max(s[0].x, s[1].x), s[2].x);

    for (int k = -1; k <= 1; ++k) {
        float shift = float(k) * TWO_PI;
        if (hi + shift <= -PI || lo + shift >= PI) continue;
        if (apex < 0) {
            for (int i = 0; i < 3; ++i) put(s[i].x + shift, s[i].y, s[i].z, v_uv[i], a[i]);
        } else {
            int b = (apex + 1) % 3;
            int c = (apex + 2) % 3;
            put(s[b].x + shift, s[b].y, s[b].z, v_uv[b], a[b]);
            put(s[c].x + shift, s[c].y, s[c].z, v_uv[c], a[c]);
            put(s[b].x + shift, s[apex].y, s[apex].z, vec2(v_uv[b].x, v_uv[apex].y), a[apex]);
            put(s[c].x + shift, s[apex].y, s[apex].z, vec2(v_uv[c].x, v_uv[apex].y), a[apex]);
        }
        EndPrimitive();
    }
}

#elif defined FRAGMENT_SHADER

uniform sampler2D texture0;

in vec2 g_uv;
#ifdef WITH_ALPHA
in float g_alpha;
uniform bool alpha_to_coverage;
#endif

out vec4 fragColor;

void main() {
#ifdef WITH_ALPHA
    if (!alpha_to_coverage && g_alpha < 0.5) {
        discard;
    }
    fragColor = vec4(texture(texture0, g_uv).rgb, g_alpha);
#else
    fragColor = vec4(texture(texture0, g_uv).rgb, 1.0);
#endif
}

#endif
