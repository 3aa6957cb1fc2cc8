using ConceptSuite.Contracts;

namespace ConceptSuite.Generate.Model;

/// <summary>
/// Shape of a concept diffusion generator. Presets: "tiny" (tests: 16×16, 16 channels, two
/// levels, one attention level), "cpu" (16×16, 16 channels, three levels, attention at 8×8 and
/// 4×4: ~800 steps of 32 in about 10 minutes on one busy core), "gpu" (32×32, 96 channels, four levels).
/// </summary>
public sealed record GeneratorConfig
{
    public int ImageSize { get; init; } = 16;
    public int BaseChannels { get; init; } = 16;
    /// <summary>Channel multiplier per resolution level; each level after the first halves the resolution.</summary>
    public int[] ChannelMults { get; init; } = [1, 2, 2];
    /// <summary>Levels (indices into ChannelMults) that carry cross-attention; the middle block always does.</summary>
    public int[] AttentionLevels { get; init; } = [1, 2];
    /// <summary>Width of a text-token embedding (the cross-attention key/value input).</summary>
    public int TextDim { get; init; } = 32;
    public int Heads { get; init; } = 4;
    /// <summary>Diffusion steps of the training chain (the cosine schedule's T).</summary>
    public int DiffusionSteps { get; init; } = 1000;

    public static GeneratorConfig Preset(string name) => name switch
    {
        "tiny" => new GeneratorConfig { ImageSize = 16, BaseChannels = 16, ChannelMults = [1, 2], AttentionLevels = [1], TextDim = 16, Heads = 2 },
        "" or "cpu" => new GeneratorConfig(),
        "gpu" => new GeneratorConfig { ImageSize = 32, BaseChannels = 96, ChannelMults = [1, 2, 2, 2], AttentionLevels = [1, 2, 3], TextDim = 64, Heads = 8 },
        _ => throw new InvalidInputException("config.preset", $"unknown preset '{name}'; known: tiny, cpu, gpu"),
    };

    public void Validate(string field = "config")
    {
        if (ImageSize is < 8 or > 256) throw new InvalidInputException($"{field}.image_size", "must be in [8, 256]");
        if (ImageSize % (1 << (ChannelMults.Length - 1)) != 0) throw new InvalidInputException($"{field}.image_size", $"must be divisible by {1 << (ChannelMults.Length - 1)}");
        if (BaseChannels is < 8 or > 512 || BaseChannels % 8 != 0) throw new InvalidInputException($"{field}.base_channels", "must be a multiple of 8 in [8, 512]");
        if (ChannelMults.Length is < 1 or > 5 || ChannelMults.Any(m => m is < 1 or > 8)) throw new InvalidInputException($"{field}.channel_mults", "1-5 entries in [1, 8]");
        if (AttentionLevels.Any(l => l < 0 || l >= ChannelMults.Length)) throw new InvalidInputException($"{field}.attention_levels", "must index channel_mults");
        if (TextDim is < 4 or > 2048) throw new InvalidInputException($"{field}.text_dim", "must be in [4, 2048]");
        if (Heads < 1 || BaseChannels % Heads != 0) throw new InvalidInputException($"{field}.heads", "must divide base_channels");
        if (DiffusionSteps is < 10 or > 10000) throw new InvalidInputException($"{field}.diffusion_steps", "must be in [10, 10000]");
    }
}
