using ConceptSuite.Contracts;
using TorchSharp;

namespace ConceptSuite.Core.Hosting;

/// <summary>Turns the configured device string into a TorchSharp device.</summary>
public static class DeviceSelector
{
    /// <summary>auto → cuda:0 when libtorch sees CUDA, else cpu; cpu; cuda or cuda:N (checked).</summary>
    public static torch.Device Resolve(string? spec, string field = "ConceptSuite:Device")
    {
        var s = (spec ?? "auto").Trim().ToLowerInvariant();
        if (s is "" or "auto") return torch.cuda.is_available() ? new torch.Device(DeviceType.CUDA, 0) : torch.CPU;
        if (s == "cpu") return torch.CPU;
        if (s == "cuda" || s.StartsWith("cuda:", StringComparison.Ordinal))
        {
            int index = 0;
            if (s.Length > 4 && !int.TryParse(s[5..], out index))
                throw new InvalidInputException(field, $"'{spec}' is not auto, cpu, cuda or cuda:N");
            if (!torch.cuda.is_available())
                throw new InvalidInputException(field, $"'{spec}' asked for CUDA, but libtorch sees no CUDA device (CPU build, or no driver)");
            int count = torch.cuda.device_count();
            if (index < 0 || index >= count)
                throw new InvalidInputException(field, $"'{spec}': CUDA device index must be in [0, {count})");
            return new torch.Device(DeviceType.CUDA, index);
        }
        throw new InvalidInputException(field, $"'{spec}' is not auto, cpu, cuda or cuda:N");
    }
}
