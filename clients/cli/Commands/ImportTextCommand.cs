using System.CommandLine;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using Spectre.Console;

namespace ConceptSuite.Cli.Commands;

/// <summary>
/// `concept import --text FILE` (an option of <see cref="ImportCommand"/>): reads a text corpus here (<see cref="TextFiles"/>: one example per
/// line, or JSON Lines with "text" and "label") and streams it to the embedding stage's
/// ImportDataset, which stores it as a "texts" artifact; prints the artifact id, usable as a
/// workflow input. The server never opens the path.
/// </summary>
public static class ImportTextCommand
{
    public static readonly Option<string?> Text = new("--text") { Description = "A text corpus instead of images: one example per line, or .jsonl with \"text\" and \"label\"." };

    public static async Task<int> RunAsync(ParseResult parse, string path, string? corpusName, CancellationToken ct)
    {
        TextFiles.Corpus corpus;
        try { corpus = TextFiles.Read(path); }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
            return e is FileNotFoundException or DirectoryNotFoundException ? ExitCodes.NotFound : ExitCodes.BadInput;
        }
        var name = corpusName ?? Path.GetFileNameWithoutExtension(path);
        return await Connection.WithAsync(parse, ct, async c =>
        {
            var info = await SendAsync(new EmbeddingService.EmbeddingServiceClient(c.Invoker), corpus, name, ct);
            AnsiConsole.MarkupLineInterpolated($"[green]texts:[/] {info.Ref.Id} ({corpus.Texts.Count} texts, {corpus.ClassNames.Count} classes)");
            return ExitCodes.Ok;
        });
    }

    /// <summary>Streams a corpus to ImportDataset (header, then one message per text) with a progress bar.</summary>
    public static async Task<ArtifactInfo> SendAsync(EmbeddingService.EmbeddingServiceClient client, TextFiles.Corpus corpus, string name, CancellationToken ct)
    {
        using var call = client.ImportDataset(cancellationToken: ct);
        var header = new ImportDatasetHeader { Name = name };
        header.ClassNames.AddRange(corpus.ClassNames);
        await AnsiConsole.Progress().StartAsync(async p =>
        {
            var task = p.AddTask("import texts", maxValue: corpus.Texts.Count);
            await call.RequestStream.WriteAsync(new ImportDatasetRequest { Header = header }, ct);
            for (int i = 0; i < corpus.Texts.Count; i++)
            {
                await call.RequestStream.WriteAsync(new ImportDatasetRequest { Text = new LabelledText { Text = corpus.Texts[i], Label = corpus.Labels[i] } }, ct);
                task.Increment(1);
            }
            await call.RequestStream.CompleteAsync();
        });
        return await call.ResponseAsync;
    }
}
