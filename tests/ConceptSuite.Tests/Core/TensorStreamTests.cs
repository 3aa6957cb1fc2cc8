using ConceptSuite.Contracts;
using ConceptSuite.Core.Tensors;
using Google.Protobuf;
using TorchSharp;
using WireTensor = ConceptSuite.Contracts.Tensor;

namespace ConceptSuite.Tests.Core;

public class TensorStreamTests
{
    static async IAsyncEnumerable<TensorBlock> AsAsync(IEnumerable<TensorBlock> blocks)
    {
        foreach (var b in blocks) { await Task.Yield(); yield return b; }
    }

    static TensorBlock Block(long offset, long rows, long cols = 4, DType dtype = DType.Float32, string name = "", long totalRows = -1, float fill = 0)
    {
        var t = new WireTensor { Dtype = dtype, Data = ByteString.CopyFrom(Enumerable.Repeat(fill, (int)(rows * cols)).SelectMany(BitConverter.GetBytes).ToArray()) };
        if (dtype != DType.Float32) t.Data = ByteString.CopyFrom(new byte[rows * cols * DTypes.ElementSize(dtype)]);
        t.Shape.Add([rows, cols]);
        var b = new TensorBlock { Name = name, RowOffset = offset, Tensor = t };
        b.TotalShape.Add([totalRows, cols]);
        return b;
    }

    [Fact]
    public void SplitRespectsTheByteBudgetAndTilesTheRows()
    {
        using var t = torch.arange(1000 * 64, dtype: torch.float32).reshape(1000, 64); // 256 B per row
        var blocks = TensorStreams.Split(t, "", null, 10_000).ToList();
        Assert.All(blocks, b => Assert.True(b.Tensor.Data.Length <= 10_000));
        Assert.Equal(39, blocks[0].Tensor.Shape[0]); // floor(10000 / 256)
        Assert.Equal(Enumerable.Range(0, blocks.Count).Select(i => i * 39L), blocks.Select(b => b.RowOffset));
        Assert.All(blocks, b => Assert.Equal(new long[] { 1000, 64 }, b.TotalShape.ToArray()));
        Assert.Equal(1000, blocks.Sum(b => b.Tensor.Shape[0]));
    }

    [Fact]
    public void RowWiderThanTheBudgetStillTravelsOneRowPerBlock()
    {
        using var t = torch.ones(3, 1000);
        var blocks = TensorStreams.Split(t, "", null, 100).ToList();
        Assert.Equal(3, blocks.Count);
    }

    [Fact]
    public async Task ConsumeIncrementallyAndAssembleGiveTheOriginalTensor()
    {
        using var t = torch.randn(777, 33, generator: new torch.Generator(1).manual_seed(2));
        var ids = Enumerable.Range(0, 777).Select(i => $"img-{i}").ToList();
        var blocks = TensorStreams.Split(t, "acts", ids, 4096).ToList();
        Assert.True(blocks.Count > 20);

        long rows = 0;
        await foreach (var v in TensorStreams.ReadAsync(AsAsync(blocks)))
        {
            using (v.Tensor)
            {
                Assert.Equal(rows, v.RowOffset);
                Assert.True(v.Tensor.eq(t.narrow(0, rows, v.Tensor.shape[0])).all().item<bool>());
                Assert.Equal(ids.Skip((int)rows).Take((int)v.Tensor.shape[0]), v.Ids);
                rows += v.Tensor.shape[0];
            }
        }
        Assert.Equal(777, rows);

        var (whole, wholeIds) = await TensorStreams.AssembleAsync(AsAsync(blocks));
        using (whole)
        {
            Assert.True(whole.eq(t).all().item<bool>());
            Assert.Equal(ids, wholeIds);
        }
    }

    [Fact]
    public async Task EmptyTensorTravelsAsOneBlockWithItsShape()
    {
        using var t = torch.zeros(0, 5);
        var blocks = TensorStreams.Split(t, "", null, TensorBlocks.DefaultMaxBlockBytes).ToList();
        Assert.Single(blocks);
        var (back, _) = await TensorStreams.AssembleAsync(AsAsync(blocks));
        Assert.Equal(new long[] { 0, 5 }, back.shape);
    }

    public static TheoryData<string, TensorBlock[], TensorStreamRules, string, string> BadStreams => new()
    {
        { "dtype changes", [Block(0, 2), Block(2, 2, dtype: DType.Float64)], new(), "blocks[1].tensor.dtype", "changed mid-stream from Float32 to Float64" },
        { "trailing dims change", [Block(0, 2), Block(2, 2, cols: 5)], new(), "blocks[1].tensor.shape", "trailing dims [5] differ from the stream's [4]" },
        { "gap", [Block(0, 2), Block(3, 2)], new(), "blocks[1].row_offset", "gap: expected row 2, got 3" },
        { "overlap", [Block(0, 2), Block(1, 2)], new(), "blocks[1].row_offset", "overlap: expected row 2, got 1" },
        { "first block not at 0", [Block(5, 2)], new(), "blocks[0].row_offset", "gap: expected row 0, got 5" },
        { "too large", [Block(0, 2), Block(2, 2)], new() { MaxTotalBytes = 40 }, "blocks", "stream exceeds the limit of 40 bytes" },
        { "NaN", [Block(0, 2, fill: float.NaN)], new() { RejectNonFinite = true }, "blocks[0].tensor.data", "element 0 is NaN; NaN and Inf are not allowed" },
        { "Inf", [Block(0, 1), Block(1, 1, fill: float.PositiveInfinity)], new() { RejectNonFinite = true }, "blocks[1].tensor.data", "element 0 is Infinity; NaN and Inf are not allowed" },
        { "past declared total", [Block(0, 2, totalRows: 3), Block(2, 2, totalRows: 3)], new(), "blocks[1].tensor.shape", "rows run to 4, past the declared total 3" },
        { "short of declared total", [Block(0, 2, totalRows: 3)], new(), "blocks", "tensor '' ended after 2 rows, total_shape declared 3" },
        { "empty stream", [], new(), "blocks", "stream is empty" },
        { "wrong dtype", [Block(0, 1, dtype: DType.Int32)], new() { RequiredDType = DType.Float32 }, "blocks[0].tensor.dtype", "must be Float32, got Int32" },
        { "wrong rank", [Block(0, 1)], new() { RequiredRank = 4 }, "blocks[0].tensor.shape", "must have rank 4, got [1, 4]" },
    };

    [Theory]
    [MemberData(nameof(BadStreams))]
    public async Task EveryStreamRuleIsEnforcedWithItsMessage(string what, TensorBlock[] blocks, TensorStreamRules rules, string field, string rule)
    {
        var e = await Assert.ThrowsAsync<InvalidInputException>(async () =>
        {
            await foreach (var v in TensorStreams.ReadAsync(AsAsync(blocks), rules)) v.Tensor.Dispose();
        });
        Assert.True(field == e.Field && rule == e.Rule, $"{what}: got {e.Field}: {e.Rule}");
    }

    [Fact]
    public void IdsMustMatchRows()
    {
        var b = Block(0, 2);
        b.Ids.Add("only-one");
        var e = Assert.Throws<InvalidInputException>(() => new TensorStreamValidator().Accept(b));
        Assert.Equal("blocks[0].ids", e.Field);
    }

    [Fact]
    public void NamedTensorsInOneStreamAreValidatedSeparately()
    {
        var v = new TensorStreamValidator();
        v.Accept(Block(0, 2, name: "a"));
        v.Accept(Block(0, 3, cols: 7, name: "b"));
        v.Accept(Block(2, 1, name: "a"));
        v.Complete();
        Assert.Equal(new long[] { 3, 4 }, v.Shape("a"));
        Assert.Equal(new long[] { 3, 7 }, v.Shape("b"));
    }
}
