using ConceptSuite.Contracts;
using ConceptSuite.Core.Hosting;
using TorchSharp;

namespace ConceptSuite.Core.Limits;

/// <summary>
/// The one budget check: what a request would expand to, checked on its config and block headers
/// before any tensor is allocated. Bytes (rows × bytes per row after conforming: resize target,
/// dtype) against the per-call memory budget (<see cref="SuiteOptions.MaxCallBytes"/>; RESOURCE_EXHAUSTED),
/// label values against the class limit and counts against their documented maxima
/// (INVALID_ARGUMENT). Every message names the field and the limit. Products are computed without
/// overflow: a product past <see cref="long.MaxValue"/> is over any budget.
/// </summary>
public sealed class RequestBudget
{
    /// <summary>A budget of <paramref name="maxCallBytes"/> bytes per call and <paramref name="maxClasses"/> classes.</summary>
    public RequestBudget(long maxCallBytes, long maxClasses)
    {
        if (maxCallBytes <= 0) throw new ArgumentOutOfRangeException(nameof(maxCallBytes), "must be > 0");
        if (maxClasses <= 0) throw new ArgumentOutOfRangeException(nameof(maxClasses), "must be > 0");
        MaxCallBytes = maxCallBytes;
        MaxClasses = maxClasses;
    }

    /// <summary>The budget the suite's options configure (<see cref="SuiteOptions.CallBytes"/>).</summary>
    public static RequestBudget From(SuiteOptions options) => new(options.CallBytes(), options.MaxClasses);

    /// <summary>Bytes one call may hold at once.</summary>
    public long MaxCallBytes { get; }

    /// <summary>Classes a label set may imply: every label value is below it.</summary>
    public long MaxClasses { get; }

    /// <summary>a × b × …, or <see cref="long.MaxValue"/> when the product overflows (negative factors count as 0).</summary>
    public static long Product(params long[] factors)
    {
        long p = 1;
        foreach (var f in factors)
        {
            if (f <= 0) return 0;
            if (p > long.MaxValue / f) return long.MaxValue;
            p *= f;
        }
        return p;
    }

    /// <summary>
    /// Throws RESOURCE_EXHAUSTED naming <paramref name="field"/> when <paramref name="rows"/> rows of
    /// <paramref name="bytesPerRow"/> bytes exceed the per-call budget.
    /// </summary>
    public void Bytes(string field, long rows, long bytesPerRow, string what = "rows")
    {
        long total = Product(rows, bytesPerRow);
        if (total > MaxCallBytes)
            throw new ResourceExhaustedException($"{field}: {rows} {what} × {bytesPerRow} bytes = {Describe(total)} exceeds the per-call budget of {MaxCallBytes} bytes (ConceptSuite:MaxCallBytes)");
    }

    /// <summary>Throws RESOURCE_EXHAUSTED naming <paramref name="field"/> when <paramref name="bytes"/> exceed the per-call budget.</summary>
    public void Bytes(string field, long bytes) => Within(MaxCallBytes, field, bytes);

    /// <summary>
    /// The option-parse context quantity that carries the per-call budget to a method built by a
    /// family (<see cref="Methods.MethodFamily{T}.Create"/>), which checks its own expansion with <see cref="Within"/>.
    /// </summary>
    public const string ContextKey = "call_bytes";

    /// <summary>The per-call budget the options were parsed with (0: none given, nothing to check).</summary>
    public static long CallBytesOf(Methods.OptionValues o) => o.Context.TryGetValue(ContextKey, out var b) ? b : 0;

    /// <summary>RESOURCE_EXHAUSTED naming <paramref name="field"/> when <paramref name="bytes"/> exceed <paramref name="callBytes"/> (0: no budget).</summary>
    public static void Within(long callBytes, string field, long bytes)
    {
        if (callBytes > 0 && bytes > callBytes)
            throw new ResourceExhaustedException($"{field}: needs {Describe(bytes)}, over the per-call budget of {callBytes} bytes (ConceptSuite:MaxCallBytes)");
    }

    /// <summary>
    /// Rows of <paramref name="bytesPerRow"/> bytes to work on at once: <paramref name="preferred"/>,
    /// fewer when <paramref name="inFlight"/> such chunks would exceed the budget; RESOURCE_EXHAUSTED
    /// naming <paramref name="field"/> when even one row does not fit.
    /// </summary>
    public long ChunkRows(string field, long bytesPerRow, long preferred, int inFlight = 1)
    {
        long perChunk = MaxCallBytes / Math.Max(1, inFlight);
        if (bytesPerRow > perChunk)
            throw new ResourceExhaustedException($"{field}: one row needs {Describe(bytesPerRow)} ({inFlight} in flight), over the per-call budget of {MaxCallBytes} bytes (ConceptSuite:MaxCallBytes)");
        return Math.Max(1, Math.Min(preferred, perChunk / Math.Max(1, bytesPerRow)));
    }

    /// <summary>INVALID_ARGUMENT naming <paramref name="field"/> unless 0 ≤ <paramref name="value"/> ≤ <paramref name="max"/>.</summary>
    public static void Count(string field, long value, long max)
    {
        if (value < 0) throw new InvalidInputException(field, $"must be >= 0, got {value}");
        if (value > max) throw new InvalidInputException(field, $"must be at most {max}, got {value}");
    }

    /// <summary>
    /// The class count a largest label implies (max label + 1); INVALID_ARGUMENT naming
    /// <paramref name="field"/> when a label is negative or not below the class limit.
    /// </summary>
    public int Classes(string field, long maxLabel, long minLabel = 0)
    {
        if (minLabel < 0) throw new InvalidInputException(field, $"labels must be >= 0, got {minLabel}");
        if (maxLabel >= MaxClasses)
            throw new InvalidInputException(field, $"label {maxLabel} implies {(maxLabel == long.MaxValue ? "more than " + long.MaxValue : (maxLabel + 1).ToString())} classes; labels must be below the class limit {MaxClasses} (ConceptSuite:MaxClasses)");
        return (int)(maxLabel + 1);
    }

    /// <summary><see cref="Classes(string, long, long)"/> on an integer label tensor (0 classes for no labels).</summary>
    public int Classes(string field, torch.Tensor labels)
    {
        if (labels.numel() == 0) return 0;
        if (labels.is_floating_point()) throw new InvalidInputException(field, $"labels must be integers, got {labels.dtype}");
        return Classes(field, labels.max().to_type(torch.ScalarType.Int64).item<long>(), labels.min().to_type(torch.ScalarType.Int64).item<long>());
    }

    /// <summary>Longest name in a label map (class names, concept names), characters.</summary>
    public const int MaxNameChars = 256;

    /// <summary>Most labels an artifact may carry.</summary>
    public const int MaxLabels = 64;

    /// <summary>Longest artifact label key and value, characters.</summary>
    public const int MaxLabelKeyChars = 128, MaxLabelValueChars = 1024;

    /// <summary>
    /// A label map (class or concept names, one per class or concept): at most the class limit
    /// of names, each at most <see cref="MaxNameChars"/> characters; INVALID_ARGUMENT naming the field.
    /// </summary>
    public void Names(string field, IReadOnlyCollection<string> names)
    {
        if (names.Count > MaxClasses)
            throw new InvalidInputException(field, $"{names.Count} names; at most the class limit {MaxClasses} (ConceptSuite:MaxClasses)");
        int i = 0;
        foreach (var n in names)
        {
            if (n.Length > MaxNameChars) throw new InvalidInputException($"{field}[{i}]", $"{n.Length} characters; names are at most {MaxNameChars}");
            i++;
        }
    }

    /// <summary>Artifact labels: at most <see cref="MaxLabels"/> entries of bounded key and value length.</summary>
    public static void Labels(string field, IReadOnlyDictionary<string, string> labels)
    {
        if (labels.Count > MaxLabels) throw new InvalidInputException(field, $"{labels.Count} labels; at most {MaxLabels}");
        foreach (var (k, v) in labels)
        {
            if (k.Length == 0 || k.Length > MaxLabelKeyChars) throw new InvalidInputException(field, $"label keys are 1 to {MaxLabelKeyChars} characters, got {k.Length}");
            if (v.Length > MaxLabelValueChars) throw new InvalidInputException($"{field}[{(k.Length <= 32 ? k : k[..32] + "…")}]", $"{v.Length} characters; label values are at most {MaxLabelValueChars}");
        }
    }

    /// <summary>An artifact's metadata: a JSON object of at most <paramref name="maxBytes"/> UTF-8 bytes (ConceptSuite:MaxMetadataJsonBytes).</summary>
    public static void MetadataJson(string field, string json, int maxBytes)
    {
        if (json.Length > maxBytes || System.Text.Encoding.UTF8.GetByteCount(json) > maxBytes)
            throw new InvalidInputException(field, $"{System.Text.Encoding.UTF8.GetByteCount(json)} bytes; at most {maxBytes} (ConceptSuite:MaxMetadataJsonBytes)");
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(json, new System.Text.Json.JsonDocumentOptions { MaxDepth = 32 });
            if (doc.RootElement.ValueKind != System.Text.Json.JsonValueKind.Object) throw new InvalidInputException(field, "must be a JSON object");
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new InvalidInputException(field, $"is not JSON (nested at most 32 deep): {e.Message}");
        }
    }

    static string Describe(long bytes) => bytes == long.MaxValue ? "more than 2^63 bytes" : $"{bytes} bytes";
}
