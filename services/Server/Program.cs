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
catch (IOException e) when (e.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException)
{
    // Kestrel could not bind a listen address (another process holds the port): say which, exit 3.
    Console.Error.WriteLine(e.Message);
    return 3;
}
