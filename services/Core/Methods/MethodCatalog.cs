using System.Globalization;
using ConceptSuite.Contracts;

namespace ConceptSuite.Core.Methods;

/// <summary>
/// The families every stage in this process registered (<c>services.AddMethodFamily</c>); each
/// stage answers its own part in <c>ListMethods</c>.
/// </summary>
public sealed class MethodCatalog(IEnumerable<IMethodFamily> families)
{
    readonly IReadOnlyList<IMethodFamily> _families = families.ToList();

    /// <summary>The families of <paramref name="stage"/> (one, when <see cref="ListMethodsRequest.Family"/> names it).</summary>
    public ListMethodsResponse List(string stage, ListMethodsRequest request)
    {
        var mine = _families.Where(f => f.Stage == stage).ToList();
        if (request.Family.Length > 0)
        {
            mine = mine.Where(f => f.Name == request.Family).ToList();
            if (mine.Count == 0)
                throw new InvalidInputException("family", $"stage '{stage}' has no family '{(request.Family.Length <= 64 ? request.Family : request.Family[..64])}'; it has: " +
                    string.Join(", ", _families.Where(f => f.Stage == stage).Select(f => f.Name)));
        }
        var r = new ListMethodsResponse();
        foreach (var f in mine) r.Families.Add(f.Describe());
        return r;
    }

    /// <summary>One method as the contract describes it.</summary>
    public static MethodSchema Describe(string name, string paper, string description, IReadOnlyList<OptionSpec> options,
        IReadOnlyDictionary<string, string>? traits)
    {
        var m = new MethodSchema { Name = name, Paper = paper, Description = description };
        foreach (var o in options)
        {
            var s = new OptionSchema
            {
                Name = o.Name, Type = o.TypeName, DefaultValue = o.Default, Description = o.Description,
                Min = o.Min is { } lo ? lo.ToString(CultureInfo.InvariantCulture) : "",
                Max = o.Max is { } hi ? hi.ToString(CultureInfo.InvariantCulture) : o.MaxOf ?? "",
            };
            if (o.Choices is not null) s.Choices.Add(o.Choices);
            m.Options.Add(s);
        }
        if (traits is not null) foreach (var (k, v) in traits) m.Traits[k] = v;
        return m;
    }
}
