// The puppet pass: textured meshes with premultiplied alpha, tint, screen tint and opacity; and the mask pass,
// which writes only the stencil where the source texture's alpha passes the threshold.

struct DrawUniforms {
    // clip = pos * view.xy + view.zw
    view: vec4<f32>,
    // rgb tint, a = opacity
    tint: vec4<f32>,
    // rgb screen tint, a = mask threshold
    screen: vec4<f32>,
};

@group(0) @binding(0) var<uniform> u: DrawUniforms;
@group(1) @binding(0) var tex: texture_2d<f32>;
@group(1) @binding(1) var samp: sampler;

struct VertexOut {
    @builtin(position) clip: vec4<f32>,
    @location(0) uv: vec2<f32>,
};

@vertex
fn vs_main(@location(0) pos: vec2<f32>, @location(1) uv: vec2<f32>) -> VertexOut {
    var out: VertexOut;
    out.clip = vec4<f32>(pos * u.view.xy + u.view.zw, 0.0, 1.0);
    out.uv = uv;
    return out;
}

@fragment
fn fs_main(in: VertexOut) -> @location(0) vec4<f32> {
    let c = textureSample(tex, samp, in.uv);
    // Texels are premultiplied: tint scales colour; screen tint lightens, weighted by coverage.
    var rgb = c.rgb * u.tint.rgb;
    let s = clamp(u.screen.rgb, vec3<f32>(0.0), vec3<f32>(1.0));
    rgb = rgb + s * c.a - rgb * s;
    return vec4<f32>(rgb, c.a) * u.tint.a;
}

@fragment
fn fs_mask(in: VertexOut) -> @location(0) vec4<f32> {
    let c = textureSample(tex, samp, in.uv);
    if (c.a < u.screen.a) {
        discard;
    }
    return vec4<f32>(0.0);
}
