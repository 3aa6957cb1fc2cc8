using ConceptSuite.Contracts;
using ConceptSuite.Core.Artifacts;
using TorchSharp;

namespace ConceptSuite.Tests.Core;

public sealed class ArtifactStoreTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "cs-store-" + Guid.NewGuid().ToString("N"));
    readonly ArtifactStore _store;

    public ArtifactStoreTests() => _store = new ArtifactStore(_dir);

    public void Dispose() => Directory.Delete(_dir, true);

    IEnumerable<string> Files() => Directory.EnumerateFiles(_dir, "*", SearchOption.AllDirectories);

    [Fact]
    public async Task PutThenReadGivesTheSameTensorsAndAContentId()
    {
        using var w = torch.randn(5, 3, generator: new torch.Generator(1).manual_seed(1));
        using var s = torch.tensor(3.5);
        var info = await _store.PutAsync("dictionary", new Dictionary<string, torch.Tensor> { ["w"] = w, ["scale"] = s }, """{"k":3}""");
        Assert.True(ArtifactId.IsValid(info.Ref.Id));
        Assert.Equal("dictionary", info.Ref.Kind);
        Assert.Equal(["scale", "w"], info.Tensors.Select(t => t.Name));
        using var r = _store.Open(info.Ref.Id);
        using var w2 = r.Read("w");
        using var s2 = r.Read("scale");
        Assert.True(w2.eq(w).all().item<bool>());
        Assert.Equal(0, s2.dim());
        Assert.Equal(3.5, s2.item<double>());
        using var rows = r.ReadRows("w", 1, 2);
        Assert.True(rows.eq(w.narrow(0, 1, 2)).all().item<bool>());
        Assert.Equal("""{"k":3}""", r.Info.MetadataJson);
    }

    [Fact]
    public async Task SameContentSameIdDifferentContentDifferentId()
    {
        using var a = torch.ones(2, 2);
        using var b = torch.ones(2, 2);
        using var c = torch.zeros(2, 2);
        var ia = await _store.PutAsync("x", new Dictionary<string, torch.Tensor> { ["t"] = a });
        var ib = await _store.PutAsync("x", new Dictionary<string, torch.Tensor> { ["t"] = b });
        var ic = await _store.PutAsync("x", new Dictionary<string, torch.Tensor> { ["t"] = c });
        var id = await _store.PutAsync("x", new Dictionary<string, torch.Tensor> { ["t"] = a }, """{"other":1}""");
        Assert.Equal(ia.Ref.Id, ib.Ref.Id);
        Assert.NotEqual(ia.Ref.Id, ic.Ref.Id);
        Assert.NotEqual(ia.Ref.Id, id.Ref.Id);
        Assert.Equal(3, _store.List("x").Count());
    }

    [Fact]
    public async Task StreamedRowsAreStoredAsOneTensor()
    {
        using var w = _store.BeginWrite("activations");
        for (int i = 0; i < 10; i++)
        {
            using var block = torch.full(3, 4, i, torch.float32);
            w.AddTensor("activations", block);
        }
        var info = await w.CommitAsync();
        using var r = _store.Open(info.Ref.Id);
        using var t = r.Read("activations");
        Assert.Equal(new long[] { 30, 4 }, t.shape);
        Assert.Equal(9f, t[29, 3].item<float>());
        Assert.Equal(4, r.ReadBlocks("activations", 8).Count());
    }

    [Fact]
    public void AbortedWriteLeavesNothingBehind()
    {
        using (var w = _store.BeginWrite("activations"))
        {
            using var block = torch.ones(100, 10);
            w.AddTensor("a", block);
            // disposed without commit: as when a stream fails half way
        }
        Assert.Empty(Files());
        Assert.Empty(_store.List());
    }

    [Fact]
    public void ChangingTrailingDimsMidWriteFailsAndLeavesNothing()
    {
        var w = _store.BeginWrite("activations");
        using var a = torch.ones(2, 3);
        using var b = torch.ones(2, 4);
        w.AddTensor("a", a);
        Assert.Throws<InvalidInputException>(() => w.AddTensor("a", b));
        w.Dispose();
        Assert.Empty(Files());
    }

    [Fact]
    public async Task CancelledCommitLeavesNothing()
    {
        var w = _store.BeginWrite("x");
        using var a = torch.ones(2, 3);
        w.AddTensor("a", a);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => w.CommitAsync(new CancellationToken(true)));
        w.Dispose();
        Assert.Empty(Files());
    }

    [Theory]
    [InlineData("../../etc/passwd")]
    [InlineData("ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789")]
    [InlineData("abc")]
    [InlineData("")]
    [InlineData("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde/")]
    public void MalformedIdsAreRejectedBeforeAnyPathIsBuilt(string id)
    {
        var e = Assert.Throws<InvalidInputException>(() => _store.GetInfo(id));
        Assert.Equal("id", e.Field);
        Assert.Throws<InvalidInputException>(() => _store.Delete(id));
    }

    [Fact]
    public void UnknownIdIsNotFound()
    {
        Assert.Throws<NotFoundException>(() => _store.GetInfo(new string('a', 64)));
    }

    [Fact]
    public async Task DeleteRemovesEverything()
    {
        using var a = torch.ones(2);
        var info = await _store.PutAsync("x", new Dictionary<string, torch.Tensor> { ["a"] = a });
        Assert.True(_store.Delete(info.Ref.Id));
        Assert.False(_store.Delete(info.Ref.Id));
        Assert.Empty(Files());
    }

    [Fact]
    public async Task TheFileIsStandardSafetensors()
    {
        using var a = torch.arange(6, dtype: torch.int32).reshape(2, 3);
        var info = await _store.PutAsync("x", new Dictionary<string, torch.Tensor> { ["a"] = a });
        var bytes = File.ReadAllBytes(Path.Combine(_store.Root, info.Ref.Id, "tensors.safetensors"));
        long n = BitConverter.ToInt64(bytes, 0);
        Assert.Equal(0, n % 8);
        var json = System.Text.Encoding.UTF8.GetString(bytes, 8, (int)n).TrimEnd();
        Assert.Equal("""{"a":{"dtype":"I32","shape":[2,3],"data_offsets":[0,24]}}""", json);
        Assert.Equal(8 + n + 24, bytes.Length);
        Assert.Equal(5, BitConverter.ToInt32(bytes, (int)(8 + n + 20)));
    }

    [Fact]
    public async Task TheIdHashesTheContentOnlyNotTheRunRecord()
    {
        var other = Path.Combine(Path.GetTempPath(), "cs-store-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var t = torch.arange(12, dtype: torch.float32).reshape(3, 4);
            var tensors = new Dictionary<string, torch.Tensor> { ["t"] = t };
            // Two fresh data directories, the same content, runs that took different wall time.
            var first = await _store.PutAsync("dictionary", tensors, """{"r2":0.5}""", runJson: """{"seconds":7.0459524}""");
            var second = await new ArtifactStore(other).PutAsync("dictionary", tensors, """{"r2":0.5}""", runJson: """{"seconds":7.4531624}""");
            Assert.Equal(first.Ref.Id, second.Ref.Id);
            Assert.Equal("""{"seconds":7.4531624}""", new ArtifactStore(other).GetInfo(second.Ref.Id).RunJson);
            // Stored again here: one copy, which keeps the record of the run that first wrote it.
            var again = await _store.PutAsync("dictionary", tensors, """{"r2":0.5}""", runJson: """{"seconds":9}""");
            Assert.Equal(first.Ref.Id, again.Ref.Id);
            Assert.Equal("""{"seconds":7.0459524}""", _store.GetInfo(first.Ref.Id).RunJson);
            // What is hashed still tells contents apart.
            var metadata = await _store.PutAsync("dictionary", tensors, """{"r2":0.6}""");
            Assert.NotEqual(first.Ref.Id, metadata.Ref.Id);
        }
        finally { Directory.Delete(other, true); }
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("empty")]
    [InlineData("garbage")]
    [InlineData("missing")]
    public async Task ACorruptMetaJsonIsQuarantinedAndNeverFailsListOrCommit(string damage)
    {
        using var a = torch.ones(4, 2);
        using var b = torch.zeros(4, 2);
        var ia = await _store.PutAsync("x", new Dictionary<string, torch.Tensor> { ["t"] = a });
        var ib = await _store.PutAsync("x", new Dictionary<string, torch.Tensor> { ["t"] = b });
        var meta = Path.Combine(_store.Root, ia.Ref.Id, "meta.json");
        var text = File.ReadAllText(meta);
        switch (damage)
        {
            case "truncated": File.WriteAllText(meta, text[..(text.Length / 2)]); break;
            case "empty": File.WriteAllText(meta, ""); break;
            case "garbage": File.WriteAllBytes(meta, [0xff, 0xfe, 0x00, 0x7b]); break;
            case "missing": File.Delete(meta); break;
        }
        // List skips it (no exception) and moves it aside; reads answer NOT_FOUND.
        Assert.Equal([ib.Ref.Id], _store.List("x").Select(i => i.Ref.Id));
        Assert.False(Directory.Exists(Path.Combine(_store.Root, ia.Ref.Id)));
        Assert.Single(Directory.EnumerateDirectories(_store.QuarantineRoot), d => Path.GetFileName(d).StartsWith(ia.Ref.Id + ".", StringComparison.Ordinal));
        Assert.Throws<NotFoundException>(() => _store.GetInfo(ia.Ref.Id));
        // Committing the same content again stores it anew under the same id.
        var again = await _store.PutAsync("x", new Dictionary<string, torch.Tensor> { ["t"] = a });
        Assert.Equal(ia.Ref.Id, again.Ref.Id);
        using var r = _store.Open(ia.Ref.Id);
        using var back = r.Read("t");
        Assert.True(back.eq(a).all().item<bool>());
        Assert.Equal(2, _store.List("x").Count());
    }

    [Fact]
    public async Task ACommitThatFindsACorruptCopyOfItsIdReplacesIt()
    {
        using var a = torch.ones(4, 2);
        var ia = await _store.PutAsync("x", new Dictionary<string, torch.Tensor> { ["t"] = a });
        var tensors = Path.Combine(_store.Root, ia.Ref.Id, "tensors.safetensors");
        using (var f = new FileStream(tensors, FileMode.Open)) f.SetLength(f.Length - 5); // a torn tensors file
        var again = await _store.PutAsync("x", new Dictionary<string, torch.Tensor> { ["t"] = a });
        Assert.Equal(ia.Ref.Id, again.Ref.Id);
        Assert.Equal(ia.SizeBytes, new FileInfo(tensors).Length);
        Assert.Single(Directory.EnumerateDirectories(_store.QuarantineRoot));
    }
}
