using System.CommandLine;
using System.Globalization;
using ConceptSuite.Contracts;
using Google.Protobuf;
using Spectre.Console;

namespace ConceptSuite.Cli.Commands;

/// <summary>
/// `concept models` (the registry) and `concept models register PATH` (upload an ONNX or TorchScript
/// image model). The file is read here and streamed; the server never opens a client-named path.
/// </summary>
public static class ModelsCommand
{
    const int ChunkBytes = 1 << 20;

    public static Command Create()
    {
        var kind = new Option<string?>("--kind", "-k") { Description = "Only this kind (onnx, torchscript, builtin, text)." };
        var cmd = new Command("models", "List the models the embedding stage serves, with their taps.") { kind };
        cmd.SetAction((parse, ct) => Connection.WithAsync(parse, ct, async c =>
        {
            var r = await new EmbeddingService.EmbeddingServiceClient(c.Invoker).ListModelsAsync(new ListModelsRequest { Kind = parse.GetValue(kind) ?? "" }, cancellationToken: ct);
            var t = new Table().AddColumns("name", "kind", "input", "taps", "source");
            foreach (var m in r.Models)
                t.AddRow(Markup.Escape(m.Name), m.Kind, m.Input is null ? "text" : $"{m.Input.Channels}×{m.Input.Height}×{m.Input.Width}",
                    Markup.Escape(string.Join(", ", m.Taps.Select(x => $"{x.Name}[{string.Join("×", x.Shape)}]"))), Markup.Escape(m.Source));
            AnsiConsole.Write(t);
            return ExitCodes.Ok;
        }));
        cmd.Subcommands.Add(Register());
        return cmd;
    }

    static Command Register()
    {
        var path = new Argument<FileInfo>("PATH") { Description = "The model file: .onnx, or a TorchScript file saved with torch.jit.save (.pt)." };
        var name = new Option<string?>("--name", "-n") { Description = "Registry name (default: the file name without extension)." };
        var format = new Option<string?>("--format", "-f") { Description = "onnx or torchscript (default: from the extension)." };
        var size = new Option<string>("--input-size") { Description = "Input the model runs at: S, HxW or CxHxW (channels 1 or 3; default 3).", DefaultValueFactory = _ => "224" };
        var taps = new Option<string[]>("--tap", "-t")
        {
            Description = "A tap, repeatable: NAME or NAME=SOURCE. ONNX: a graph value. TorchScript: output, a returned dict key, a tuple index, or module:<path> (a named submodule).",
            AllowMultipleArgumentsPerToken = false,
        };
        var flatten = new Option<string[]>("--flatten") { Description = "Flatten this ONNX tap to [D] per row (repeatable)." };
        var order = new Option<string>("--channel-order") { Description = "rgb or bgr: the channel order the model expects.", DefaultValueFactory = _ => "rgb" };
        var scaling = new Option<string>("--scaling") { Description = "unit (x/255) or byte (0-255).", DefaultValueFactory = _ => "unit" };
        var mean = new Option<string?>("--mean") { Description = "Per-channel mean after scaling, comma-separated (e.g. 0.485,0.456,0.406)." };
        var std = new Option<string?>("--std") { Description = "Per-channel std after scaling, comma-separated (e.g. 0.229,0.224,0.225)." };
        var pre = new Option<FileInfo?>("--preprocess") { Description = "An ONNX preprocessing model run before an ONNX model (one input, one output)." };
        var version = new Option<string?>("--model-version") { Description = "A version label." };
        var cmd = new Command("register", "Upload an ONNX or TorchScript image model: dry-run, stored by content, then served by name.")
            { path, name, format, size, taps, flatten, order, scaling, mean, std, pre, version };
        cmd.SetAction((parse, ct) => Connection.WithAsync(parse, ct, async c =>
        {
            var file = parse.GetValue(path)!;
            var spec = new RegisterModelSpec
            {
                Name = parse.GetValue(name) ?? Path.GetFileNameWithoutExtension(file.Name),
                Format = parse.GetValue(format) ?? FormatOf(file.Name),
                Version = parse.GetValue(version) ?? "",
                Preprocessing = new ModelPreprocessing { ChannelOrder = parse.GetValue(order)!, Scaling = parse.GetValue(scaling)! },
            };
            (spec.Channels, spec.Height, spec.Width) = InputSize(parse.GetValue(size)!);
            spec.Preprocessing.Mean.Add(Floats(parse.GetValue(mean), "--mean"));
            spec.Preprocessing.Std.Add(Floats(parse.GetValue(std), "--std"));
            var flat = (parse.GetValue(flatten) ?? []).ToHashSet(StringComparer.Ordinal);
            foreach (var t in parse.GetValue(taps) ?? [])
            {
                int eq = t.IndexOf('=');
                var tapName = eq < 0 ? t : t[..eq];
                spec.Taps.Add(new ModelTapSpec { Name = tapName, Source = eq < 0 ? "" : t[(eq + 1)..], Flatten = flat.Contains(tapName) });
            }
            var model = await File.ReadAllBytesAsync(file.FullName, ct);
            var preprocess = parse.GetValue(pre) is { } p ? await File.ReadAllBytesAsync(p.FullName, ct) : [];
            spec.SizeBytes = model.Length;
            spec.PreprocessSizeBytes = preprocess.Length;

            using var call = new EmbeddingService.EmbeddingServiceClient(c.Invoker).RegisterModel(cancellationToken: ct);
            await call.RequestStream.WriteAsync(new RegisterModelRequest { Spec = spec }, ct);
            await AnsiConsole.Progress().StartAsync(async progress =>
            {
                var task = progress.AddTask($"uploading {Markup.Escape(file.Name)}", maxValue: model.Length + preprocess.Length);
                foreach (var bytes in new[] { model, preprocess })
                    for (int at = 0; at < bytes.Length; at += ChunkBytes)
                    {
                        int n = Math.Min(ChunkBytes, bytes.Length - at);
                        await call.RequestStream.WriteAsync(new RegisterModelRequest { Chunk = ByteString.CopyFrom(bytes, at, n) }, ct);
                        task.Increment(n);
                    }
            });
            await call.RequestStream.CompleteAsync();
            var r = await call.ResponseAsync;
            var table = new Table().AddColumns("tap", "source", "shape", "dtype");
            foreach (var t in r.Taps) table.AddRow(Markup.Escape(t.Name), Markup.Escape(t.Source), string.Join("×", t.Shape), t.Dtype);
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLineInterpolated($"registered [bold]{r.Model.Name}[/] ({r.Model.Kind}) as model:{r.Artifact.Ref.Id}");
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    static string FormatOf(string file) => Path.GetExtension(file).ToLowerInvariant() switch
    {
        ".onnx" => "onnx",
        ".pt" or ".pth" or ".ts" or ".torchscript" => "torchscript",
        _ => throw new InvalidInputException("--format", $"cannot tell the format of '{file}' from its extension; pass --format onnx|torchscript"),
    };

    /// <summary>"S", "HxW" or "CxHxW" → (channels, height, width); channels default to 3.</summary>
    internal static (int C, int H, int W) InputSize(string text)
    {
        var parts = text.Split('x', 'X', '×');
        if (parts.Length is < 1 or > 3 || !parts.All(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
            throw new InvalidInputException("--input-size", $"must be S, HxW or CxHxW, got '{text}'");
        var n = parts.Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToArray();
        return n.Length switch { 1 => (3, n[0], n[0]), 2 => (3, n[0], n[1]), _ => (n[0], n[1], n[2]) };
    }

    static IEnumerable<float> Floats(string? text, string option)
    {
        if (string.IsNullOrWhiteSpace(text)) return [];
        return text.Split(',').Select(s => float.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var f)
            ? f : throw new InvalidInputException(option, $"'{s}' is not a number"));
    }
}
