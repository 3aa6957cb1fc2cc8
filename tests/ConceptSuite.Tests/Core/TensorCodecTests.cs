using ConceptSuite.Contracts;
using ConceptSuite.Core.Tensors;
using Google.Protobuf;
using TorchSharp;
using WireTensor = ConceptSuite.Contracts.Tensor;

namespace ConceptSuite.Tests.Core;

public class TensorCodecTests
{
    public static TheoryData<DType> AllDTypes => new()
    {
        DType.Float32, DType.Float64, DType.Float16, DType.Bfloat16, DType.Int64, DType.Int32, DType.Uint8, DType.Bool,
    };

    static torch.Tensor Sample(DType dtype, long[] shape)
    {
        using var scope = torch.NewDisposeScope();
        var type = TensorCodec.ToScalarType(dtype);
        var t = dtype == DType.Bool ? torch.arange(Elements(shape)).remainder(3).eq(0).reshape(shape)
            : torch.arange(Elements(shape)).to(torch.float64).mul(0.5).sub(3).to(type).reshape(shape);
        return t.MoveToOuterDisposeScope();
    }

    static long Elements(long[] shape) => shape.Aggregate(1L, (a, b) => a * b);

    [Theory]
    [MemberData(nameof(AllDTypes))]
    public void EveryDTypeRoundTripsBitExactly(DType dtype)
    {
        foreach (var shape in new[] { new long[] { 2, 3, 4 }, new long[] { }, new long[] { 0, 5 }, new long[] { 7 } })
        {
            using var t = Sample(dtype, shape);
            var msg = TensorCodec.ToMessage(t);
            Assert.Equal(dtype, msg.Dtype);
            Assert.Equal(shape, msg.Shape.ToArray());
            Assert.Equal(Elements(shape) * DTypes.ElementSize(dtype), msg.Data.Length);
            // Through real protobuf bytes, as on the wire.
            var parsed = WireTensor.Parser.ParseFrom(msg.ToByteArray());
            using var back = TensorCodec.ToTorch(parsed);
            Assert.Equal(t.dtype, back.dtype);
            Assert.Equal(shape, back.shape);
            Assert.Equal(t.bytes.ToArray(), back.bytes.ToArray());
        }
    }

    [Fact]
    public void LargeTensorRoundTripsAndReceiveSharesTheMessageBytes()
    {
        using var t = torch.randn(1024, 1024, generator: new torch.Generator(1).manual_seed(1));
        var parsed = WireTensor.Parser.ParseFrom(TensorCodec.ToMessage(t).ToByteArray());
        using var back = TensorCodec.ToTorch(parsed);
        Assert.True(back.eq(t).all().item<bool>());
        // Zero copy on receive: writing through the tensor changes the message's bytes.
        back[0, 0] = torch.tensor(42f);
        Assert.Equal(42f, BitConverter.ToSingle(parsed.Data.Span[..4]));
    }

    [Fact]
    public void SendSharesTheTensorStorage()
    {
        using var t = torch.zeros(4, 4);
        var msg = TensorCodec.ToMessage(t);
        t[1, 1] = torch.tensor(7f);
        Assert.Equal(7f, BitConverter.ToSingle(msg.Data.Span.Slice((1 * 4 + 1) * 4, 4)));
    }

    [Fact]
    public void NonContiguousTensorsAreSentInRowMajorOrder()
    {
        using var t = torch.arange(6, dtype: torch.float32).reshape(2, 3).t();
        var msg = TensorCodec.ToMessage(t);
        Assert.Equal(new long[] { 3, 2 }, msg.Shape.ToArray());
        using var back = TensorCodec.ToTorch(msg);
        Assert.Equal(new float[] { 0, 3, 1, 4, 2, 5 }, back.data<float>().ToArray());
    }

    [Theory]
    [InlineData(DType.Float32, new long[] { 2, 2 }, 15, "tensor.data", "has 15 bytes but dtype Float32 and shape [2, 2] need 16")]
    [InlineData(DType.Float32, new long[] { 2, -1 }, 0, "tensor.shape[1]", "dimension must be >= 0, got -1")]
    [InlineData(DType.Unspecified, new long[] { 1 }, 4, "tensor.dtype", "unsupported dtype Unspecified")]
    [InlineData(DType.Int64, new long[] { long.MaxValue, 2 }, 0, "tensor.shape", "element count overflows int64")]
    public void MalformedTensorsAreRejectedWithFieldAndRule(DType dtype, long[] shape, int bytes, string field, string rule)
    {
        var msg = new WireTensor { Dtype = dtype, Data = ByteString.CopyFrom(new byte[bytes]) };
        msg.Shape.Add(shape);
        var e = Assert.Throws<InvalidInputException>(() => TensorCodec.ToTorch(msg));
        Assert.Equal(field, e.Field);
        Assert.Equal(rule, e.Rule);
    }

    [Fact]
    public void BoolBytesMustBeZeroOrOne()
    {
        var msg = new WireTensor { Dtype = DType.Bool, Data = ByteString.CopyFrom(0, 1, 2) };
        msg.Shape.Add(3);
        var e = Assert.Throws<InvalidInputException>(() => TensorCodec.ToTorch(msg));
        Assert.Equal("tensor.data", e.Field);
    }
}
