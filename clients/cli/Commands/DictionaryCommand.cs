using System.CommandLine;
using ConceptSuite.Contracts;
using Google.Protobuf;
using Spectre.Console;

namespace ConceptSuite.Cli.Commands;

/// <summary>
/// `concept dictionary export ARTIFACT DIR` / `concept dictionary import PATH`: sparse autoencoders
/// as SAELens files — DIR/cfg.json and DIR/sae_weights.safetensors, the layout SAELens'
/// SAE.save_model writes and SAE.load_from_disk reads.
/// </summary>
public static class DictionaryCommand
{
    const string Cfg = "cfg.json";
    const string Weights = "sae_weights.safetensors";
    const int ChunkBytes = 1 << 20;

    public static Command Create()
    {
        var cmd = new Command("dictionary", "Move sparse autoencoders in and out as SAELens files (cfg.json + sae_weights.safetensors).");
        cmd.Subcommands.Add(Export());
        cmd.Subcommands.Add(Import());
        return cmd;
    }

    static Command Export()
    {
        var artifact = new Argument<string>("ARTIFACT") { Description = "The dictionary artifact id." };
        var dir = new Argument<DirectoryInfo>("DIR") { Description = "Folder to write cfg.json and sae_weights.safetensors into." };
        var name = new Option<string?>("--name", "-n") { Description = "The dictionary's name inside the artifact (when it holds several)." };
        var cmd = new Command("export", "Write a sparse autoencoder (relu_sae, topk_sae, jumprelu_sae, batchtopk_sae) as SAELens files.") { artifact, dir, name };
        cmd.SetAction((parse, ct) => Connection.WithAsync(parse, ct, async c =>
        {
            var request = new ExportDictionaryRequest { Dictionary = new DictionaryRef { Artifact = new ArtifactRef { Id = parse.GetValue(artifact)! }, Name = parse.GetValue(name) ?? "" } };
            using var call = new DiscoveryService.DiscoveryServiceClient(c.Invoker).ExportDictionary(request, cancellationToken: ct);
            string cfg = "";
            var bytes = new MemoryStream();
            while (await call.ResponseStream.MoveNext(ct))
            {
                var m = call.ResponseStream.Current;
                if (m.PartCase == ExportDictionaryResponse.PartOneofCase.CfgJson) cfg = m.CfgJson;
                else m.Chunk.WriteTo(bytes);
            }
            var folder = parse.GetValue(dir)!;
            folder.Create();
            await File.WriteAllTextAsync(Path.Combine(folder.FullName, Cfg), cfg, ct);
            await File.WriteAllBytesAsync(Path.Combine(folder.FullName, Weights), bytes.ToArray(), ct);
            AnsiConsole.MarkupLineInterpolated($"wrote {Path.Combine(folder.FullName, Cfg)} and {Weights} ({bytes.Length} bytes)");
            return ExitCodes.Ok;
        }));
        return cmd;
    }

    static Command Import()
    {
        var path = new Argument<string>("PATH") { Description = "A folder with cfg.json and sae_weights.safetensors, or a .safetensors file (then --cfg)." };
        var cfgFile = new Option<FileInfo?>("--cfg") { Description = "The SAELens cfg.json (default: cfg.json beside the weights)." };
        var name = new Option<string?>("--name", "-n") { Description = "Name of the dictionary inside the artifact." };
        var cmd = new Command("import", "Store an SAELens sparse autoencoder (standard, topk, jumprelu) as a dictionary artifact.") { path, cfgFile, name };
        cmd.SetAction((parse, ct) => Connection.WithAsync(parse, ct, async c =>
        {
            var p = parse.GetValue(path)!;
            var weights = Directory.Exists(p) ? Path.Combine(p, Weights) : p;
            var cfg = parse.GetValue(cfgFile)?.FullName ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(weights))!, Cfg);
            var data = await File.ReadAllBytesAsync(weights, ct);
            using var call = new DiscoveryService.DiscoveryServiceClient(c.Invoker).ImportDictionary(cancellationToken: ct);
            await call.RequestStream.WriteAsync(new ImportDictionaryRequest
            {
                Header = new ImportDictionaryHeader { CfgJson = await File.ReadAllTextAsync(cfg, ct), SizeBytes = data.Length, Name = parse.GetValue(name) ?? "" },
            }, ct);
            for (int at = 0; at < data.Length; at += ChunkBytes)
                await call.RequestStream.WriteAsync(new ImportDictionaryRequest { Chunk = ByteString.CopyFrom(data, at, Math.Min(ChunkBytes, data.Length - at)) }, ct);
            await call.RequestStream.CompleteAsync();
            var info = await call.ResponseAsync;
            AnsiConsole.MarkupLineInterpolated($"stored dictionary {info.Ref.Id} ({Markup.Escape(info.Labels.GetValueOrDefault("methods", ""))})");
            return ExitCodes.Ok;
        }));
        return cmd;
    }
}
