using ConceptSuite.Contracts;
using ConceptSuite.Core.Methods;

namespace ConceptSuite.Tests.Core;

public sealed class MethodSystemTests
{
    static readonly IReadOnlyList<OptionSpec> Schema =
    [
        OptionSpec.Int("k", 4, "active atoms", 1, null, "n_concepts"),
        OptionSpec.Float("lr", 0.001, "step size", 0, 1),
        OptionSpec.Bool("center", true, "subtract the mean"),
        OptionSpec.Choice("solver", "hals", "update rule", "hals", "mu"),
        OptionSpec.Text("layer", "", "tap path"),
    ];

    sealed record Scaled(double Factor);

    static MethodFamily<Scaled> Family() => new("scaler", "test", "multiplies", "config.method",
    [
        new("double", "none", "times two", [], _ => new Scaled(2)),
        new("times", "none", "times a factor", [OptionSpec.Float("factor", 3, "the factor", -10, 10)], o => new Scaled(o.Float("factor")),
            new Dictionary<string, string> { ["linear"] = "true" }),
    ]);

    [Fact]
    public void DefaultsFillEveryOptionWithItsTypedValue()
    {
        var o = OptionValues.Defaults(Schema, new Dictionary<string, long> { ["n_concepts"] = 8 });
        Assert.Equal(4, o.Int("k"));
        Assert.Equal(0.001, o.Float("lr"));
        Assert.True(o.Bool("center"));
        Assert.Equal("hals", o.Choice("solver"));
        Assert.Equal("", o.Text("layer"));
        Assert.Equal(["center", "k", "layer", "lr", "solver"], o.Canonical.Keys.Order().ToArray());
    }

    [Fact]
    public void GivenValuesAreParsedOnceIntoCanonicalText()
    {
        var o = OptionValues.Parse(Schema, new Dictionary<string, string> { ["k"] = " 8 ", ["lr"] = "1e-2", ["center"] = "0", ["solver"] = "mu" },
            "dictionary", new Dictionary<string, long> { ["n_concepts"] = 8 });
        Assert.Equal(8, o.Int("k"));
        Assert.Equal(0.01, o.Float("lr"));
        Assert.False(o.Bool("center"));
        Assert.Equal("8", o.Canonical["k"]);
        Assert.Equal("0.01", o.Canonical["lr"]);
        Assert.Equal("false", o.Canonical["center"]);
    }

    [Theory]
    [InlineData("k", "9", "dictionary.options.k", "must be <= n_concepts (8), got 9")]
    [InlineData("k", "0", "dictionary.options.k", "must be >= 1, got 0")]
    [InlineData("k", "two", "dictionary.options.k", "must be an integer, got 'two'")]
    [InlineData("lr", "NaN", "dictionary.options.lr", "must be a finite number, got 'NaN'")]
    [InlineData("lr", "2", "dictionary.options.lr", "must be <= 1, got 2")]
    [InlineData("center", "yes", "dictionary.options.center", "must be true or false, got 'yes'")]
    [InlineData("solver", "adam", "dictionary.options.solver", "must be one of hals, mu, got 'adam'")]
    [InlineData("depth", "3", "dictionary.options.depth", "unknown option; this method has: k, lr, center, solver, layer")]
    public void BadValuesNameTheFieldAndTheRule(string name, string value, string field, string rule)
    {
        var e = Assert.Throws<InvalidInputException>(() => OptionValues.Parse(Schema, new Dictionary<string, string> { [name] = value },
            "dictionary", new Dictionary<string, long> { ["n_concepts"] = 8 }));
        Assert.Equal(field, e.Field);
        Assert.Equal(rule, e.Rule);
    }

    [Fact]
    public void AHugeValueIsRejectedBeforeItIsParsed()
    {
        var e = Assert.Throws<InvalidInputException>(() => OptionValues.Parse(Schema,
            new Dictionary<string, string> { ["layer"] = new string('x', OptionValues.MaxTextLength + 1) }, "config"));
        Assert.Equal("config.options.layer", e.Field);
    }

    [Fact]
    public void AFamilyBuildsItsMethodsFromParsedOptions()
    {
        var f = Family();
        Assert.Equal(2, f.Create("double", null, "config").Factor);
        Assert.Equal(-1.5, f.Create("times", new Dictionary<string, string> { ["factor"] = "-1.5" }, "config").Factor);
        var e = Assert.Throws<InvalidInputException>(() => f.Create("triple", null, "config"));
        Assert.Equal("config.method", e.Field);
        Assert.Equal("unknown scaler method 'triple'; known: double, times", e.Rule);
    }

    [Fact]
    public void RegisteringAMethodAddsItAndASecondOfTheSameNameFails()
    {
        var f = Family();
        f.Register(new("half", "none", "times a half", [], _ => new Scaled(0.5)));
        Assert.Equal(["double", "times", "half"], f.Names.ToArray());
        Assert.Throws<InvalidOperationException>(() => f.Register(new("half", "none", "again", [], _ => new Scaled(0.5))));
    }

    [Fact]
    public void TheCatalogDescribesAStagesFamiliesAsTheContractSays()
    {
        var catalog = new MethodCatalog([Family(), new MethodFamily<Scaled>("other", "elsewhere", "", "", [])]);
        var r = catalog.List("test", new ListMethodsRequest());
        var family = Assert.Single(r.Families);
        Assert.Equal("scaler", family.Name);
        Assert.Equal("config.method", family.SelectedBy);
        var times = family.Methods.Single(m => m.Name == "times");
        Assert.Equal("true", times.Traits["linear"]);
        var factor = Assert.Single(times.Options);
        Assert.Equal(("float", "3", "-10", "10"), (factor.Type, factor.DefaultValue, factor.Min, factor.Max));
        var bounded = MethodCatalog.Describe("m", "", "", Schema, null).Options.Single(o => o.Name == "k");
        Assert.Equal(("int", "1", "n_concepts"), (bounded.Type, bounded.Min, bounded.Max));
        Assert.Equal("family", Assert.Throws<InvalidInputException>(() => catalog.List("test", new ListMethodsRequest { Family = "nope" })).Field);
    }
}
