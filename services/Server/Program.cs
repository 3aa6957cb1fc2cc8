using ConceptSuite.Server;

try
{
    await SuiteApp.Create(args).RunAsync();
    return 0;
}
catch (ArgumentException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
