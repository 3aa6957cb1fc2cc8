using System.Text;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using ConceptSuite.Core.Data;
using ConceptSuite.Tests.Infrastructure;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;

namespace ConceptSuite.Tests.Embedding;

/// <summary>Text corpora: WordNet's glosses, the "texts" artifact, ImportDataset's text form and the client's file reader.</summary>
public sealed class TextCorpusTests
{
    [Fact]
    public void GlossesSplitIntoTheDefinitionAndEachQuotedExample()
    {
        var parts = WordNetGlosses.Split(" a thin pancake; usually rolled; \"she made crepes for breakfast\"; \"crepes with jam\" - Mark Twain  ").ToList();
        Assert.Equal([("a thin pancake; usually rolled", false), ("she made crepes for breakfast", true), ("crepes with jam", true)], parts);

        var all = WordNetGlosses.Read();
        // WordNet 3.0: 117 659 synsets, each with a definition; 48 000-odd quoted usage examples.
        Assert.InRange(all.Count(g => !g.Example), 117_000, 118_000);
        Assert.InRange(all.Count(g => g.Example), 40_000, 60_000);
        Assert.Equal(4, all.Select(g => g.PartOfSpeech).Distinct().Count());
        Assert.Contains(all, g => g.Lemma == "dog" && g.Text.StartsWith("a member of the genus Canis", StringComparison.Ordinal));
    }

    [Fact]
    public void MorphologyFindsWordNetBaseForms()
    {
        var m = WordNetMorphology.Read();
        Assert.Equal("goose", m.Lemma("geese"));
        Assert.Equal("dog", m.Lemma("Dogs"));
        Assert.Equal("be", m.Lemma("was"));
        Assert.Equal("box", m.Lemma("boxes"));
        Assert.Equal("happy", m.Lemma("happy"));
        Assert.Equal("xqzv", m.Lemma("xqzv"));
    }

    [Fact]
    public async Task ImportStoresTextsAndRefusesHostileStreamsWithoutWriting()
    {
        await using var server = await SuiteTestServer.StartAsync("embedding", null, ("ConceptSuite:Embedding:MaxTexts", "50"));
        var client = new EmbeddingService.EmbeddingServiceClient(server.Channel);
        var store = server.Services.GetRequiredService<ArtifactStore>();

        async Task<ArtifactInfo> Import(ImportDatasetHeader header, IEnumerable<(string Text, long Label)> texts)
        {
            using var call = client.ImportDataset();
            await call.RequestStream.WriteAsync(new ImportDatasetRequest { Header = header });
            foreach (var (t, l) in texts)
                await call.RequestStream.WriteAsync(new ImportDatasetRequest { Text = new LabelledText { Text = t, Label = l } });
            await call.RequestStream.CompleteAsync();
            return await call.ResponseAsync;
        }

        var info = await Import(new ImportDatasetHeader { Name = "tiny", ClassNames = { "pos", "neg" } }, [("good film", 0), ("ünïcode ✓ text", 1), ("bad film", 1)]);
        Assert.Equal(TextDataset.Kind, info.Ref.Kind);
        using (var reader = store.Open(info.Ref.Id))
        {
            var d = TextDataset.Load(reader);
            Assert.Equal(["good film", "ünïcode ✓ text", "bad film"], d.Texts);
            Assert.Equal([0L, 1, 1], d.Labels);
            Assert.Equal(["pos", "neg"], d.ClassNames);
        }
        // Same texts, same id.
        Assert.Equal(info.Ref.Id, (await Import(new ImportDatasetHeader { Name = "tiny", ClassNames = { "pos", "neg" } }, [("good film", 0), ("ünïcode ✓ text", 1), ("bad film", 1)])).Ref.Id);

        int stored = store.List().Count();
        async Task<RpcException> Fails(ImportDatasetHeader h, IEnumerable<(string, long)> texts) =>
            await Assert.ThrowsAsync<RpcException>(() => Import(h, texts));
        var e = await Fails(new ImportDatasetHeader { ClassNames = { "a" } }, [("x", 0), ("y", 3)]);
        Assert.Equal(StatusCode.InvalidArgument, e.StatusCode);
        Assert.StartsWith("texts[1].label", e.Status.Detail);
        e = await Fails(new ImportDatasetHeader(), [("x", 0), ("  ", 0)]);
        Assert.StartsWith("texts[1].text", e.Status.Detail);
        e = await Fails(new ImportDatasetHeader(), [("x", 0), (new string('z', 9000), 0)]);
        Assert.StartsWith("texts[1].text", e.Status.Detail);
        e = await Fails(new ImportDatasetHeader(), Enumerable.Range(0, 51).Select(i => ($"text {i}", 0L)));
        Assert.Equal(StatusCode.ResourceExhausted, e.StatusCode);
        Assert.Equal(stored, store.List().Count());

        // The built-in corpus: a seeded sample of WordNet's glosses, labelled by part of speech.
        using var call2 = client.ImportDataset();
        await call2.RequestStream.WriteAsync(new ImportDatasetRequest { Header = new ImportDatasetHeader { Source = "wordnet-glosses", Limit = 40, Seed = 3 } });
        await call2.RequestStream.CompleteAsync();
        var glosses = await call2.ResponseAsync;
        using var r2 = store.Open(glosses.Ref.Id);
        var corpus = TextDataset.Load(r2);
        Assert.Equal(40, corpus.Count);
        Assert.Equal(WordNetGlosses.PartsOfSpeech, corpus.ClassNames);
        Assert.True(corpus.Labels.Distinct().Count() >= 2);
    }

    [Fact]
    public void ClientReaderTakesLinesOrJsonLinesAndNamesTheBadLine()
    {
        var dir = Directory.CreateTempSubdirectory("cs-texts-").FullName;
        var plain = Path.Combine(dir, "corpus.txt");
        File.WriteAllText(plain, "first line\n\nsecond line\r\n");
        var c = TextFiles.Read(plain);
        Assert.Equal(["first line", "second line"], c.Texts);
        Assert.Empty(c.ClassNames);

        var jsonl = Path.Combine(dir, "corpus.jsonl");
        File.WriteAllText(jsonl, "{\"text\":\"a cat\",\"label\":\"animal\"}\n{\"text\":\"a car\",\"label\":\"vehicle\"}\n{\"text\":\"a dog\",\"label\":\"animal\"}\n");
        c = TextFiles.Read(jsonl);
        Assert.Equal(["animal", "vehicle"], c.ClassNames);
        Assert.Equal([0L, 1, 0], c.Labels);

        var invalid = Path.Combine(dir, "bad.txt");
        File.WriteAllBytes(invalid, [.. Encoding.UTF8.GetBytes("fine\n"), 0x66, 0xC3, 0x28, 0x0A]);
        var e = Assert.Throws<InvalidDataException>(() => TextFiles.Read(invalid));
        Assert.Contains("bad.txt:2: not valid UTF-8", e.Message);
        var mixed = Path.Combine(dir, "mixed.jsonl");
        File.WriteAllText(mixed, "{\"text\":\"a\",\"label\":\"x\"}\n{\"text\":\"b\",\"label\":2}\n");
        Assert.Contains("mixed.jsonl:2: labels mix", Assert.Throws<InvalidDataException>(() => TextFiles.Read(mixed)).Message);
        File.WriteAllText(mixed, "{\"label\":1}\n");
        Assert.Contains(":1: needs a string field \"text\"", Assert.Throws<InvalidDataException>(() => TextFiles.Read(mixed)).Message);
    }
}
