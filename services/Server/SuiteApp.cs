using ConceptSuite.Core.Hosting;
using ConceptSuite.Core.Limits;
using ConceptSuite.Core.Security;

namespace ConceptSuite.Server;

/// <summary>Builds the one server: Core plus the stages named by --stages.</summary>
public static class SuiteApp
{
    internal static readonly Dictionary<string, string> Switches = new()
    {
        ["--stages"] = "ConceptSuite:Stages",
        ["--data-dir"] = "ConceptSuite:DataDir",
        ["--listen"] = "ConceptSuite:Listen:Grpc",
        ["--metrics"] = "ConceptSuite:Listen:Metrics",
        ["--device"] = "ConceptSuite:Device",
    };

    /// <param name="configure">Extra wiring before build (tests swap in the in-memory server).</param>
    public static WebApplication Create(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var runtime = TorchRuntime.Configure(); // before anything loads libtorch
        args = Core.Security.ListenGuard.Normalize(args);
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args });
        builder.Configuration.AddCommandLine(args, Switches);
        var stages = StageCatalog.Resolve(builder.Configuration["ConceptSuite:Stages"]);
        builder.ConfigureSuiteKestrel();
        builder.Services.AddSuiteCore();
        foreach (var s in stages) s.Add(builder.Services);
        configure?.Invoke(builder);

        var app = builder.Build();
        app.UseCallDurationLimit();
        app.MapSuiteCore();
        foreach (var s in stages) s.Map(app);
        app.Services.PublishStageBaselines();
        app.Logger.LogInformation("ConceptSuite serving stages: {Stages}", stages.Count == 0 ? "(core only)" : string.Join(", ", stages.Select(s => s.Name)));
        app.Services.LogSecurityPosture(app.Logger);
        app.Logger.LogInformation("OpenMP idle spin: {Spin}; oneDNN CPU kernels: {OneDnn}",
            runtime.ShortSpin ? $"GOMP_SPINCOUNT={OpenMpThreads.SpinCount} (set by the server)" : "as the environment sets it",
            runtime.OneDnn ? $"on ({TorchRuntime.OneDnnVariable}=1)" : "off");
        return app;
    }
}
