using ConceptSuite.Generate.Text;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace ConceptSuite.Generate.Model;

/// <summary>
/// Text-conditioned denoising UNet ε_θ(x_t, t, c) (Ho et al., 2020; Rombach et al., 2022) with
/// its own token embedding table: ResBlocks with a timestep embedding at every level, cross-
/// attention to the prompt's token embeddings at the configured levels and in the middle, skip
/// connections between matching resolutions. Tokens carry no position: a prompt is a set of
/// concepts, so each concept has one embedding c and one key W_k·c and value W_v·c per layer.
/// </summary>
public sealed class ConceptUNet : nn.Module
{
    readonly Embedding token_embedding;
    readonly Linear time_in, time_out;
    readonly Conv2d conv_in, conv_out;
    readonly GroupNorm norm_out;
    readonly ModuleList<ResBlock> down_res, up_res;
    readonly ModuleList<CrossAttention> down_attn, up_attn;
    readonly ModuleList<Conv2d> downsample, upsample;
    readonly ResBlock mid_res1, mid_res2;
    readonly CrossAttention mid_attn;
    readonly int[] _downAttnIndex, _upAttnIndex;

    public ConceptUNet(GeneratorConfig config, int vocabularySize) : base("concept_unet")
    {
        config.Validate();
        Config = config;
        VocabularySize = vocabularySize;
        int b = config.BaseChannels, td = b * 4, levels = config.ChannelMults.Length;
        var ch = config.ChannelMults.Select(m => b * m).ToArray();
        token_embedding = Embedding(vocabularySize, config.TextDim);
        time_in = Linear(b, td);
        time_out = Linear(td, td);
        conv_in = Conv2d(3, ch[0], 3, padding: 1);
        down_res = new ModuleList<ResBlock>(); up_res = new ModuleList<ResBlock>();
        down_attn = new ModuleList<CrossAttention>(); up_attn = new ModuleList<CrossAttention>();
        downsample = new ModuleList<Conv2d>(); upsample = new ModuleList<Conv2d>();
        _downAttnIndex = new int[levels]; _upAttnIndex = new int[levels];
        for (int l = 0; l < levels; l++)
        {
            down_res.Add(new ResBlock($"down{l}", l == 0 ? ch[0] : ch[l - 1], ch[l], td));
            _downAttnIndex[l] = -1;
            if (config.AttentionLevels.Contains(l)) { _downAttnIndex[l] = down_attn.Count; down_attn.Add(new CrossAttention($"down_attn{l}", ch[l], config.TextDim, config.Heads)); }
            if (l < levels - 1) downsample.Add(Conv2d(ch[l], ch[l], 3, stride: 2, padding: 1));
        }
        mid_res1 = new ResBlock("mid1", ch[^1], ch[^1], td);
        mid_attn = new CrossAttention("mid_attn", ch[^1], config.TextDim, config.Heads);
        mid_res2 = new ResBlock("mid2", ch[^1], ch[^1], td);
        for (int l = levels - 1; l >= 0; l--)
        {
            int inCh = (l == levels - 1 ? ch[^1] : ch[l + 1]) + ch[l];
            up_res.Add(new ResBlock($"up{l}", inCh, ch[l], td));
            _upAttnIndex[l] = -1;
            if (config.AttentionLevels.Contains(l)) { _upAttnIndex[l] = up_attn.Count; up_attn.Add(new CrossAttention($"up_attn{l}", ch[l], config.TextDim, config.Heads)); }
            if (l > 0) upsample.Add(Conv2d(ch[l], ch[l], 3, padding: 1));
        }
        norm_out = GroupNorm(Math.Min(8, ch[0]), ch[0]);
        conv_out = Conv2d(ch[0], 3, 3, padding: 1);
        RegisterComponents();
        // GroupNorm's affine parameters come uninitialised from this TorchSharp build: set γ = 1, β = 0.
        using (no_grad())
            foreach (var (_, m) in named_modules())
                if (m is GroupNorm gn) { gn.weight!.fill_(1.0); gn.bias!.fill_(0.0); }
    }

    public GeneratorConfig Config { get; }
    public int VocabularySize { get; }

    /// <summary>The token embedding table [V, D] (row = token id).</summary>
    public Parameter TokenEmbeddings => token_embedding.weight!;

    /// <summary>Every cross-attention layer, down to up.</summary>
    public IEnumerable<CrossAttention> CrossAttentions => down_attn.Concat([mid_attn]).Concat(up_attn);

    /// <summary>Token ids [B,T] → text context (embeddings, attend where not PAD).</summary>
    public TextContext Encode(Tensor tokens) =>
        new(token_embedding.forward(tokens), tokens.ne(ConceptVocabulary.Pad));

    /// <summary>ε prediction [B,3,H,W].</summary>
    public Tensor Forward(Tensor x, Tensor t, Conditioning cond) => ForwardWithFeatures(x, t, cond).Eps;

    /// <summary>ε prediction plus the last decoder features [B,C,H,W] (for concept localisation).</summary>
    public (Tensor Eps, Tensor Features) ForwardWithFeatures(Tensor x, Tensor t, Conditioning cond)
    {
        int levels = Config.ChannelMults.Length;
        var temb = time_out.forward(functional.silu(time_in.forward(TimestepEmbedding(t, Config.BaseChannels))));
        var h = conv_in.forward(x);
        var skips = new Tensor[levels];
        for (int l = 0; l < levels; l++)
        {
            h = down_res[l].forward(h, temb);
            if (_downAttnIndex[l] >= 0) h = down_attn[_downAttnIndex[l]].Forward(h, cond);
            skips[l] = h;
            if (l < levels - 1) h = downsample[l].forward(h);
        }
        h = mid_res1.forward(h, temb);
        h = mid_attn.Forward(h, cond);
        h = mid_res2.forward(h, temb);
        int ui = 0, si = 0;
        for (int l = levels - 1; l >= 0; l--, ui++)
        {
            h = up_res[ui].forward(cat([h, skips[l]], 1), temb);
            if (_upAttnIndex[l] >= 0) h = up_attn[_upAttnIndex[l]].Forward(h, cond);
            if (l > 0) h = upsample[si++].forward(functional.interpolate(h, scale_factor: [2.0, 2.0], mode: InterpolationMode.Nearest));
        }
        var eps = conv_out.forward(functional.silu(norm_out.forward(h)));
        return (eps, h);
    }

    /// <summary>Sinusoidal embedding of the timestep (Vaswani et al., 2017), dim channels.</summary>
    static Tensor TimestepEmbedding(Tensor t, int dim)
    {
        int half = dim / 2;
        var freqs = exp(arange(half, dtype: ScalarType.Float32, device: t.device) * (-Math.Log(10000.0) / half));
        var args = t.to_type(ScalarType.Float32).unsqueeze(1) * freqs.unsqueeze(0);
        return cat([sin(args), cos(args)], 1);
    }
}
