using System.CommandLine;
using System.Globalization;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using Grpc.Core;
using Spectre.Console;

namespace ConceptSuite.Cli.Commands;

/// <summary>
/// `concept import PATH`: an image folder (one subfolder per class), .npy (labels.npy next to it,
/// or --labels), .npz or .safetensors (keys images, labels) read here (<see cref="DatasetFiles"/>)
/// and streamed through ImportDataset with a progress bar; prints the dataset artifact's id and
/// how a workflow takes it (-p dataset=artifact:ID).
/// </summary>
public static class ImportCommand
{
    public static Command Create()
    {
        var path = new Argument<string?>("path") { Description = "An image folder (one subfolder per class), or an .npy, .npz or .safetensors file.", Arity = ArgumentArity.ZeroOrOne };
        var name = new Option<string?>("--name", "-n") { Description = "The data set's name (default: the file or folder name)." };
        var labels = new Option<string?>("--labels") { Description = "Labels .npy (int [N]) for an array file (default: labels.npy next to an .npy; key 'labels' in .npz/.safetensors)." };
        var layout = new Option<ImageLayout>("--layout")
        {
            Description = "Axis order of 4-D arrays: auto ([N, C, H, W] when axis 1 has 1 or 3 entries, else [N, H, W, C]), nchw or nhwc.",
            DefaultValueFactory = _ => ImageLayout.Auto,
        };
        var classNames = new Option<string?>("--class-names") { Description = "Class names, comma-separated, in label order (an image folder names them after its subfolders)." };
        var size = new Option<string?>("--size") { Description = "Resize an image folder's images to SIDE or HEIGHTxWIDTH (needed when their sizes differ)." };
        var grey = new Option<bool>("--grey") { Description = "Decode an image folder's images as 1-channel grey (default RGB)." };
        var cmd = new Command("import", "Import a data set from files: an image folder, .npy, .npz or .safetensors; or a text corpus with --text FILE.")
            { path, name, labels, layout, classNames, size, grey, ImportTextCommand.Text };
        cmd.SetAction((parse, ct) =>
        {
            if (parse.GetValue(ImportTextCommand.Text) is { Length: > 0 } texts)
                return ImportTextCommand.RunAsync(parse, texts, parse.GetValue(name), ct);
            if (string.IsNullOrEmpty(parse.GetValue(path)))
            {
                AnsiConsole.MarkupLine("[red]error:[/] give an image folder or array file, or a text corpus with --text FILE");
                return Task.FromResult(ExitCodes.BadInput);
            }
            DatasetFileSet data;
            ImportDatasetHeader header;
            try
            {
                data = DatasetFiles.Read(parse.GetValue(path)!, new DatasetFileOptions { LabelsPath = parse.GetValue(labels), Layout = parse.GetValue(layout) });
                header = Header(data, parse.GetValue(name), parse.GetValue(classNames), parse.GetValue(size), parse.GetValue(grey));
            }
            catch (Exception e) when (e is DatasetFileException or ArgumentException or IOException or UnauthorizedAccessException)
            {
                AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
                return Task.FromResult(ExitCodes.BadInput);
            }
            return Connection.WithAsync(parse, ct, async c =>
            {
                AnsiConsole.MarkupLineInterpolated($"[grey]gateway:[/] {c.Address}");
                var what = data.Images is not null
                    ? $"{data.Rows} images of {string.Join("×", data.Images.Shape.Skip(1))} (C×H×W) from arrays"
                    : $"{data.Rows} image files in {data.ClassNames.Count} class folders";
                AnsiConsole.MarkupLineInterpolated($"importing {what}");
                ArtifactInfo? info = null;
                await AnsiConsole.Progress().AutoClear(false)
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                    .StartAsync(async ctx =>
                    {
                        var task = ctx.AddTask("rows sent", maxValue: data.Rows);
                        var progress = new Progress<long>(n => task.Value = n);
                        try { info = await DatasetFiles.ImportAsync(new EmbeddingService.EmbeddingServiceClient(c.Invoker), data, header, progress, ct: ct); }
                        catch (RpcException e) when (e.Status.Detail.Contains("header.height/width", StringComparison.Ordinal))
                        {
                            throw new RpcException(new Grpc.Core.Status(e.StatusCode, e.Status.Detail + "; here: --size HEIGHTxWIDTH"));
                        }
                        task.Value = data.Rows;
                    });
                var images = info!.Tensors.First(t => t.Name == "images");
                AnsiConsole.MarkupLineInterpolated($"[green]dataset[/] {info.Ref.Id}  ({images.Shape[0]} rows, images {string.Join("×", images.Shape.Skip(1))})");
                AnsiConsole.MarkupLineInterpolated($"[grey]run a workflow on it:[/] concept run discover-name-cbm -p dataset=artifact:{info.Ref.Id}");
                return ExitCodes.Ok;
            });
        });
        return cmd;
    }

    /// <summary>The ImportDataset header: name, class names, and for an image folder the size and channels to decode to.</summary>
    static ImportDatasetHeader Header(DatasetFileSet data, string? name, string? classNames, string? size, bool grey)
    {
        var h = new ImportDatasetHeader { Name = name ?? "" };
        if (!string.IsNullOrWhiteSpace(classNames)) h.ClassNames.AddRange(classNames.Split(',', StringSplitOptions.TrimEntries));
        if (data.Images is not null && (size is not null || grey))
            throw new ArgumentException("--size and --grey apply to an image folder; arrays are imported at their own size and channels");
        if (grey) h.Channels = 1;
        if (size is not null)
        {
            var parts = size.ToLowerInvariant().Split('x');
            if (parts.Length is not (1 or 2) || !parts.All(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0))
                throw new ArgumentException($"--size '{size}' must be SIDE or HEIGHTxWIDTH (positive integers)");
            h.Height = int.Parse(parts[0], CultureInfo.InvariantCulture);
            h.Width = int.Parse(parts[^1], CultureInfo.InvariantCulture);
        }
        return h;
    }
}
