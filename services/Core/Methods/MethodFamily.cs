using System.Collections.Immutable;
using ConceptSuite.Contracts;

namespace ConceptSuite.Core.Methods;

/// <summary>What every family exposes for <c>ListMethods</c>, whatever its method type.</summary>
public interface IMethodFamily
{
    string Name { get; }
    string Stage { get; }
    string Description { get; }
    string SelectedBy { get; }
    MethodFamily Describe();
}

/// <summary>
/// The one registry shape: a named family of interchangeable methods of type
/// <typeparamref name="T"/>, each an <see cref="MethodEntry{T}"/>. Built-in methods are listed
/// where the family is declared (one line each); <see cref="Register"/> adds more at start-up
/// (an extension or a test). Lookups and option parsing fail as INVALID_ARGUMENT naming the field.
/// </summary>
public sealed class MethodFamily<T> : IMethodFamily
{
    ImmutableArray<MethodEntry<T>> _entries;

    public MethodFamily(string name, string stage, string description, string selectedBy, IEnumerable<MethodEntry<T>> entries)
    {
        Name = name; Stage = stage; Description = description; SelectedBy = selectedBy;
        _entries = [];
        foreach (var e in entries) Register(e);
    }

    public string Name { get; }
    public string Stage { get; }
    public string Description { get; }
    public string SelectedBy { get; }

    /// <summary>Every method, in registration order.</summary>
    public ImmutableArray<MethodEntry<T>> All => _entries;

    public IEnumerable<string> Names => _entries.Select(e => e.Name);

    /// <summary>Adds a method; a second method of the same name is a programming error.</summary>
    public void Register(MethodEntry<T> entry)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(entry.Name);
        ImmutableInterlocked.Update(ref _entries, list =>
            list.Any(e => e.Name == entry.Name)
                ? throw new InvalidOperationException($"{Name}: method '{entry.Name}' is registered twice")
                : list.Add(entry));
    }

    /// <summary>The entry named <paramref name="name"/>, or null.</summary>
    public MethodEntry<T>? Find(string name) => _entries.FirstOrDefault(e => e.Name == name);

    /// <summary>The entry named <paramref name="name"/>; INVALID_ARGUMENT naming <paramref name="field"/> when unknown.</summary>
    public MethodEntry<T> Get(string name, string field) =>
        Find(name) ?? throw new InvalidInputException(field,
            $"unknown {Name} method '{(name.Length <= 64 ? name : name[..64] + "…")}'; known: {string.Join(", ", Names)}");

    /// <summary>Looks the method up, parses its options once and builds it.</summary>
    public T Create(string name, IReadOnlyDictionary<string, string>? options, string field,
        IReadOnlyDictionary<string, long>? context = null, string? methodField = null)
    {
        var entry = Get(name, methodField ?? field + ".method");
        return entry.Create(OptionValues.Parse(entry.Options, options, field, context));
    }

    /// <summary>The family as the contract describes it.</summary>
    public MethodFamily Describe()
    {
        var f = new MethodFamily { Name = Name, Stage = Stage, Description = Description, SelectedBy = SelectedBy };
        foreach (var e in _entries) f.Methods.Add(MethodCatalog.Describe(e.Name, e.Paper, e.Description, e.Options, e.Traits));
        return f;
    }
}
