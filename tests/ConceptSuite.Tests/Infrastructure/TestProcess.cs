using System.Runtime.CompilerServices;
using ConceptSuite.Core.Hosting;

namespace ConceptSuite.Tests.Infrastructure;

/// <summary>The test process gets the libtorch settings every suite process gets, before any test runs.</summary>
static class TestProcess
{
#pragma warning disable CA2255 // the test assembly is the process's entry for these settings
    [ModuleInitializer]
    internal static void Initialize() => TorchRuntime.Configure();
#pragma warning restore CA2255
}
