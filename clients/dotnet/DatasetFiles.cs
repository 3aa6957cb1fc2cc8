using ConceptSuite.Contracts;
using Google.Protobuf;
using Grpc.Core;
using System.Text.RegularExpressions;

namespace ConceptSuite.Client;

/// <summary>How the axes of a 4-D image array are ordered.</summary>
public enum ImageLayout
{
    /// <summary>
    /// [N, C, H, W] when axis 1 has 1 or 3 entries, else [N, H, W, C] when axis 3 has; so an
    /// ambiguous [N, 3, 3, 3] is read channels-first (the rule of the Python client's images_nchw).
    /// </summary>
    Auto,
    Nchw,
    Nhwc,
}

/// <summary>What <see cref="DatasetFiles.Read"/> takes besides the path.</summary>
public sealed record DatasetFileOptions
{
    /// <summary>A labels file (.npy, int [N]); by default "labels.npy" next to an .npy file, the key "labels" of an .npz or safetensors file.</summary>
    public string? LabelsPath { get; init; }
    public ImageLayout Layout { get; init; } = ImageLayout.Auto;
    /// <summary>Largest array (declared bytes) the reader allocates; larger files are refused before reading.</summary>
    public long MaxBytes { get; init; } = Array.MaxLength;
}

/// <summary>
/// A data set read from a user's files, ready for ImportDataset: either arrays (images uint8
/// [N, C, H, W], labels int64 [N]) or an image folder's files with their labels (the bytes are
/// read while streaming and decoded by the embedding stage, SkiaSharp: PNG, JPEG, BMP, GIF, WebP).
/// </summary>
public sealed record DatasetFileSet(string Name, IReadOnlyList<string> ClassNames, HostTensor? Images, HostTensor? Labels,
    IReadOnlyList<(string Path, long Label)> Files)
{
    public long Rows => Images?.Shape[0] ?? Files.Count;
}

/// <summary>
/// Reads data the way users hold it, on the client (the server never opens a client-named path),
/// and streams it through EmbeddingService.ImportDataset:
/// <list type="bullet">
/// <item>an image folder: one subfolder per class (class names = folder names, in ordinal order),
/// image files (.png, .jpg, .jpeg, .bmp, .gif, .webp) anywhere below each; other files are skipped;</item>
/// <item>.npy images [N, H, W], [N, H, W, C] or [N, C, H, W] (C = 1 or 3; <see cref="ImageLayout"/>),
/// uint8, integers 0-255, or floats on a 0-1 scale (when their maximum is at most 1) or 0-255, with
/// labels (integers [N]) in "labels.npy" next to the file or named by <see cref="DatasetFileOptions.LabelsPath"/>;</item>
/// <item>.npz and .safetensors with keys "images" and "labels".</item>
/// </list>
/// Every check (dtype, shape, label count, value range, declared sizes) runs before the call starts.
/// </summary>
public static class DatasetFiles
{
    static readonly HashSet<string> ImageExtensions = new(StringComparer.OrdinalIgnoreCase) { ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp" };

    /// <summary>An encoded image must fit one gRPC message (16 MiB) with room for its envelope.</summary>
    public const long MaxImageFileBytes = 15L << 20;

    public static DatasetFileSet Read(string path, DatasetFileOptions? options = null)
    {
        options ??= new DatasetFileOptions();
        if (Directory.Exists(path))
        {
            if (options.LabelsPath is not null) throw new DatasetFileException(path, "an image folder's labels are its subfolders; --labels is for array files");
            return ReadFolder(path);
        }
        if (!File.Exists(path)) throw new DatasetFileException(path, "no such file or folder");
        var name = Path.GetFileNameWithoutExtension(path);
        var ext = Path.GetExtension(path).ToLowerInvariant();
        RawArray images, labels;
        switch (ext)
        {
            case ".npy":
                images = NumpyArrays.ReadNpy(path, options.MaxBytes);
                var labelsPath = options.LabelsPath ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "labels.npy");
                if (!File.Exists(labelsPath))
                    throw new DatasetFileException(path, $"no labels: put them in {labelsPath} (int [N]) or name a file with --labels");
                labels = NumpyArrays.ReadNpy(labelsPath, options.MaxBytes);
                break;
            case ".npz":
            case ".safetensors":
                var arrays = ext == ".npz" ? NumpyArrays.ReadNpz(path, options.MaxBytes) : NumpyArrays.ReadSafetensors(path, options.MaxBytes);
                images = arrays.GetValueOrDefault("images")
                    ?? throw new DatasetFileException(path, $"has no key 'images' (keys: {string.Join(", ", arrays.Keys.Order(StringComparer.Ordinal))})");
                labels = options.LabelsPath is not null ? NumpyArrays.ReadNpy(options.LabelsPath, options.MaxBytes)
                    : arrays.GetValueOrDefault("labels") ?? throw new DatasetFileException(path, "has no key 'labels' (int [N]); add it or name a labels .npy with --labels");
                break;
            default:
                throw new DatasetFileException(path, $"unknown kind of file '{ext}': an image folder, .npy, .npz or .safetensors");
        }
        var imageTensor = ImagesNchw(images, options.Layout);
        var labelTensor = Labels(labels, imageTensor.Shape[0]);
        return new DatasetFileSet(name, [], imageTensor, labelTensor, []);
    }

    static DatasetFileSet ReadFolder(string path)
    {
        var root = Path.GetFullPath(path);
        if (Directory.EnumerateFiles(root).Any(f => ImageExtensions.Contains(Path.GetExtension(f))))
            throw new DatasetFileException(path, "holds images at its top level; an image folder has one subfolder per class, the images inside");
        var classes = Directory.GetDirectories(root).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        if (classes.Count == 0) throw new DatasetFileException(path, "has no subfolders; an image folder has one subfolder per class");
        var files = new List<(string, long)>();
        for (int c = 0; c < classes.Count; c++)
        {
            var dir = Path.Combine(root, classes[c]!);
            var images = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
                .Where(f => ImageExtensions.Contains(Path.GetExtension(f))).Order(StringComparer.Ordinal).ToList();
            if (images.Count == 0) throw new DatasetFileException(dir, "class folder holds no images (.png, .jpg, .jpeg, .bmp, .gif, .webp)");
            foreach (var f in images)
            {
                long size = new FileInfo(f).Length;
                if (size > MaxImageFileBytes) throw new DatasetFileException(f, $"is {size} bytes; one image file must be under {MaxImageFileBytes} bytes");
                files.Add((f, c));
            }
        }
        return new DatasetFileSet(Path.GetFileName(root.TrimEnd(Path.DirectorySeparatorChar)), classes!, null, null, files);
    }

    /// <summary>Images as uint8 [N, C, H, W] (see <see cref="ImageLayout"/> and the value rule of <see cref="DatasetFiles"/>).</summary>
    public static HostTensor ImagesNchw(RawArray a, ImageLayout layout = ImageLayout.Auto)
    {
        var s = a.Shape;
        string shape = $"({string.Join(", ", s)})";
        if (a.Kind == 'b') throw new DatasetFileException(a.Source, "images are bool; they must be uint8, integers 0-255 or floats");
        bool channelsLast;
        long n, c, h, w;
        if (s.Length == 3)
        {
            (n, c, h, w, channelsLast) = (s[0], 1, s[1], s[2], false);
        }
        else if (s.Length == 4)
        {
            channelsLast = layout switch
            {
                ImageLayout.Nchw => false,
                ImageLayout.Nhwc => true,
                _ => s[1] is 1 or 3 ? false : s[3] is 1 or 3 ? true
                    : throw new DatasetFileException(a.Source, $"images {shape} have neither 1 nor 3 channels in axis 1 ([N, C, H, W]) or axis 3 ([N, H, W, C])"),
            };
            (n, c, h, w) = channelsLast ? (s[0], s[3], s[1], s[2]) : (s[0], s[1], s[2], s[3]);
            if (c is not (1 or 3)) throw new DatasetFileException(a.Source, $"images {shape} read as {(channelsLast ? "[N, H, W, C]" : "[N, C, H, W]")} have {c} channels; 1 or 3 are supported");
        }
        else throw new DatasetFileException(a.Source, $"images must be [N, H, W], [N, H, W, C] or [N, C, H, W], got shape {shape}");
        if (n == 0 || h == 0 || w == 0) throw new DatasetFileException(a.Source, $"images {shape} are empty");

        long count = a.Count;
        double scale = 1;
        if (a.Kind != 'u' || a.ItemSize != 1)
        {
            double min = double.PositiveInfinity, max = double.NegativeInfinity;
            for (long i = 0; i < count; i++)
            {
                double v = a.At(i);
                if (!double.IsFinite(v)) throw new DatasetFileException(a.Source, $"images hold NaN or Inf (element {i})");
                if (v < min) min = v;
                if (v > max) max = v;
            }
            if (a.Kind == 'f' && max <= 1) scale = 255;
            if (min * scale < 0 || max * scale > 255)
                throw new DatasetFileException(a.Source, $"image values must lie in 0-1 (floats) or 0-255, got {min:g}..{max:g}");
        }
        var output = new byte[count];
        long hw = h * w;
        for (long b = 0; b < n; b++)
            for (long ch = 0; ch < c; ch++)
                for (long p = 0; p < hw; p++)
                {
                    long src = channelsLast ? (b * hw + p) * c + ch : (b * c + ch) * hw + p;
                    long dst = (b * c + ch) * hw + p;
                    output[dst] = scale == 1 && a.Kind == 'u' && a.ItemSize == 1 ? a.Data[src] : (byte)Math.Round(a.At(src) * scale, MidpointRounding.ToEven);
                }
        return HostTensor.FromBytes(output, n, c, h, w);
    }

    /// <summary>Labels as int64 [N]: integers, one per image, none negative.</summary>
    public static HostTensor Labels(RawArray a, long rows)
    {
        if (a.Kind is not ('u' or 'i'))
            throw new DatasetFileException(a.Source, $"labels are {a.DTypeName}; they must be integers (class indices 0, 1, ...)");
        if (a.Shape.Length != 1) throw new DatasetFileException(a.Source, $"labels must be one-dimensional [N], got shape ({string.Join(", ", a.Shape)})");
        if (a.Shape[0] != rows) throw new DatasetFileException(a.Source, $"{a.Shape[0]} labels for {rows} images; there must be one label per image");
        var values = new long[rows];
        for (long i = 0; i < rows; i++)
        {
            double v = a.At(i);
            if (v < 0) throw new DatasetFileException(a.Source, $"label {i} is {v}; labels must be >= 0");
            values[i] = a.Kind == 'u' && a.ItemSize == 8 ? (long)BitConverter.ToUInt64(a.Data, (int)(i * 8)) : (long)v;
        }
        return new HostTensor(DType.Int64, [rows], System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray(), []);
    }

    /// <summary>
    /// Streams the data set through ImportDataset with <paramref name="header"/> (its name, class
    /// names, resize and channels; the files' own name and class names fill what it leaves empty).
    /// <paramref name="progress"/> receives the rows sent so far. An error about one image of a
    /// folder names its file.
    /// </summary>
    public static async Task<ArtifactInfo> ImportAsync(EmbeddingService.EmbeddingServiceClient client, DatasetFileSet data, ImportDatasetHeader header,
        IProgress<long>? progress = null, int blockBytes = TensorBlocks.DefaultMaxBlockBytes, CancellationToken ct = default)
    {
        header = header.Clone();
        if (header.Name.Length == 0) header.Name = data.Name;
        if (header.ClassNames.Count == 0) header.ClassNames.AddRange(data.ClassNames);
        using var call = client.ImportDataset(cancellationToken: ct);
        try
        {
            await call.RequestStream.WriteAsync(new ImportDatasetRequest { Header = header }, ct);
            long sent = 0;
            if (data.Images is not null && data.Labels is not null)
            {
                await WriteBlocks(call.RequestStream, data.Labels.ToBlocks("labels", blockBytes), ct);
                foreach (var b in data.Images.ToBlocks("images", blockBytes))
                {
                    await call.RequestStream.WriteAsync(new ImportDatasetRequest { Block = b }, ct);
                    sent += b.Tensor.Shape[0];
                    progress?.Report(sent);
                }
            }
            else
            {
                foreach (var (path, label) in data.Files)
                {
                    var bytes = await File.ReadAllBytesAsync(path, ct);
                    await call.RequestStream.WriteAsync(new ImportDatasetRequest
                    {
                        Image = new LabelledImage { Image = new EncodedImage { Id = Path.GetFileName(path), Data = ByteString.CopyFrom(bytes) }, Label = label },
                    }, ct);
                    progress?.Report(++sent);
                }
            }
            await call.RequestStream.CompleteAsync();
            return await call.ResponseAsync;
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException)
        {
            // The stage may refuse mid-stream, failing a later write: its status (not the write's) says why.
            var status = await StatusOf(call) ?? (e as RpcException)?.Status;
            if (status is null) throw;
            throw new RpcException(new Status(status.Value.StatusCode, WithFile(status.Value.Detail, data)));
        }
    }

    static async Task WriteBlocks(IClientStreamWriter<ImportDatasetRequest> writer, IEnumerable<TensorBlock> blocks, CancellationToken ct)
    {
        foreach (var b in blocks) await writer.WriteAsync(new ImportDatasetRequest { Block = b }, ct);
    }

    /// <summary>The call's final status once it has ended (waiting briefly for it), else null.</summary>
    static async Task<Status?> StatusOf(AsyncClientStreamingCall<ImportDatasetRequest, ArtifactInfo> call)
    {
        if (await Task.WhenAny(call.ResponseAsync, Task.Delay(TimeSpan.FromSeconds(5))) != call.ResponseAsync) return null;
        try { await call.ResponseAsync; return null; }
        catch (RpcException e) { return e.Status; }
    }

    /// <summary>"images[i]..." in a stage's message, followed by the file that image came from.</summary>
    static string WithFile(string detail, DatasetFileSet data)
    {
        var m = Regex.Match(detail, @"images\[(\d+)\]");
        return m.Success && int.TryParse(m.Groups[1].Value, out int i) && i < data.Files.Count ? $"{detail} (file {data.Files[i].Path})" : detail;
    }
}
