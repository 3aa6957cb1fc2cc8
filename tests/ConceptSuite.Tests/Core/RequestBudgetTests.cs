using ConceptSuite.Contracts;
using ConceptSuite.Core.Limits;
using TorchSharp;

namespace ConceptSuite.Tests.Core;

public class RequestBudgetTests
{
    [Fact]
    public void Products_that_overflow_count_as_over_any_budget()
    {
        Assert.Equal(3000L * 602116, RequestBudget.Product(3000, 602116));
        Assert.Equal(long.MaxValue, RequestBudget.Product(1L << 31, 1L << 31, 1L << 31));
        Assert.Equal(0, RequestBudget.Product(5, -1));
        var budget = new RequestBudget(1L << 30, 100);
        var e = Assert.Throws<ResourceExhaustedException>(() => budget.Bytes("config.shape", 1L << 40, 1L << 40));
        Assert.StartsWith("config.shape: ", e.Message);
        Assert.Contains("more than 2^63 bytes", e.Message);
        budget.Bytes("ok", 1024, 1L << 20);   // exactly the budget
        Assert.Throws<ResourceExhaustedException>(() => budget.Bytes("over", 1025, 1L << 20));
    }

    [Fact]
    public void Chunks_shrink_to_fit_the_budget_and_a_row_larger_than_it_is_refused()
    {
        var budget = new RequestBudget(1000, 100);
        Assert.Equal(32, budget.ChunkRows("images", 10, 32));
        Assert.Equal(33, budget.ChunkRows("images", 10, 64, inFlight: 3));   // 1000 / 3 / 10
        Assert.Equal(1, budget.ChunkRows("images", 333, 64, inFlight: 3));
        var e = Assert.Throws<ResourceExhaustedException>(() => budget.ChunkRows("images", 334, 64, inFlight: 3));
        Assert.StartsWith("images: one row needs 334 bytes", e.Message);
    }

    [Fact]
    public void Labels_must_lie_below_the_class_limit_and_imply_max_label_plus_one_classes()
    {
        var budget = new RequestBudget(1L << 30, 100);
        using var labels = torch.tensor(new long[] { 0, 7, 3 });
        Assert.Equal(8, budget.Classes("labels", labels));
        Assert.Equal(100, budget.Classes("labels", 99));
        var e = Assert.Throws<InvalidInputException>(() => budget.Classes("labels", 1L << 31));
        Assert.Equal("labels", e.Field);
        Assert.Contains("class limit 100", e.Message);
        using var negative = torch.tensor(new int[] { 2, -1 });
        Assert.Contains("must be >= 0", Assert.Throws<InvalidInputException>(() => budget.Classes("labels", negative)).Message);
        using var floats = torch.tensor(new float[] { 1 });
        Assert.Throws<InvalidInputException>(() => budget.Classes("labels", floats));
        Assert.Throws<InvalidInputException>(() => RequestBudget.Count("config.steps", 10_001, 10_000));
    }
}
