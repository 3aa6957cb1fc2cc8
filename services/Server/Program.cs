using ConceptSuite.Server;

try
{
    if (args.Contains(HealthProbe.Switch)) return await HealthProbe.RunAsync(args, Console.Out);
    await SuiteApp.Create(args).RunAsync();
    return 0;
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
