using ConceptSuite.Cli.Commands;
using System.CommandLine;

var root = new RootCommand("concept — concept-based interpretability: run ConceptSuite workflows and read their results");
root.Options.Add(CliOptions.Gateway);
root.Options.Add(CliOptions.ApiKey);
root.Options.Add(CliOptions.CaBundle);
root.Options.Add(CliOptions.DataDir);
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(RunCommand.Create());
root.Subcommands.Add(StatusCommand.Create());
root.Subcommands.Add(ArtifactsCommand.Create());
root.Subcommands.Add(ReportCommand.Create());
root.Subcommands.Add(AtlasCommand.Create());
root.Subcommands.Add(MethodsCommand.Create());
root.Subcommands.Add(ImportTextCommand.Create());
return await root.Parse(args).InvokeAsync();
