using System.Text.RegularExpressions;
using ConceptSuite.Tests.Deploy;

namespace ConceptSuite.Tests.Core;

/// <summary>
/// TorchSharp dispose scopes are thread-static. A scope left open across an <c>await</c> stays
/// current on the thread that started it while that thread serves other work, collects the tensors
/// that work creates, and disposes them when the scope closes: another request's tensors die under
/// it ("Tensor invalid -- empty handle"). This scans every service, client and test source file for a
/// scope whose lifetime contains an await. (Iterators are not flagged: a scope around a local
/// iterator that is consumed on the same thread is common and safe.)
/// </summary>
public sealed class DisposeScopeAwaitTests
{
    static readonly Regex Declaration = new(@"using\s+var\s+\w+\s*=\s*(?:torch\.)?NewDisposeScope\(\)\s*;", RegexOptions.Compiled);
    static readonly Regex BlockHeader = new(@"using\s*\(\s*(?:var\s+\w+\s*=\s*)?(?:torch\.)?NewDisposeScope\(\)\s*\)", RegexOptions.Compiled);
    static readonly Regex Suspension = new(@"\bawait\b", RegexOptions.Compiled);

    /// <summary>Line numbers (1-based) of scopes in <paramref name="source"/> that span an await.</summary>
    public static List<int> ScopesSpanningSuspension(string source)
    {
        var code = Blank(source);
        var found = new List<int>();
        foreach (Match m in Declaration.Matches(code))
        {
            int end = EnclosingBlockEnd(code, m.Index);
            if (Suspension.IsMatch(code[(m.Index + m.Length)..end])) found.Add(LineOf(code, m.Index));
        }
        foreach (Match m in BlockHeader.Matches(code))
        {
            int start = m.Index + m.Length, end = StatementEnd(code, start);
            if (Suspension.IsMatch(code[start..end])) found.Add(LineOf(code, m.Index));
        }
        found.Sort();
        return found;
    }

    /// <summary>Comments and string contents replaced by spaces (line breaks kept), so braces in them do not count.</summary>
    static string Blank(string s)
    {
        var pattern = new Regex(@"//[^\n]*|/\*.*?\*/|""""""[\s\S]*?""""""|@""(?:[^""]|"""")*""|""(?:[^""\\\n]|\\.)*""|'(?:[^'\\\n]|\\.)'", RegexOptions.Singleline);
        return pattern.Replace(s, m => Regex.Replace(m.Value, @"[^\n]", " "));
    }

    static int LineOf(string s, int index) => s.AsSpan(0, index).Count('\n') + 1;

    /// <summary>Index of the '}' closing the innermost block open at <paramref name="at"/>.</summary>
    static int EnclosingBlockEnd(string s, int at)
    {
        int depth = 0;
        for (int i = at; i < s.Length; i++)
        {
            if (s[i] == '{') depth++;
            else if (s[i] == '}' && depth-- == 0) return i;
        }
        return s.Length;
    }

    /// <summary>End of the statement governed by a using header ending at <paramref name="start"/>: a braced block, a chained using, or one statement.</summary>
    static int StatementEnd(string s, int start)
    {
        int depth = 0;
        for (int i = start; i < s.Length; i++)
        {
            char c = s[i];
            if (c is '(' or '[') depth++;
            else if (c is ')' or ']') depth--;
            else if (c == '{')
            {
                if (depth == 0 && s[start..i].Trim().Length == 0 || depth == 0 && IsOnlyUsingHeaders(s[start..i])) return EnclosingBlockEnd(s, i + 1) + 1;
                depth++;
            }
            else if (c == '}') depth--;
            else if (c == ';' && depth == 0) return i;
        }
        return s.Length;
    }

    static bool IsOnlyUsingHeaders(string between) => Regex.IsMatch(between, @"^\s*(?:using\s*\((?:[^()]|\([^()]*\))*\)\s*)+$");

    [Fact]
    public void The_scanner_finds_a_scope_open_across_an_await_and_passes_a_closed_one()
    {
        const string bad = """
            async Task A()
            {
                using var scope = torch.NewDisposeScope();
                var t = torch.ones(3);
                await Task.Yield();
            }
            async Task B()
            {
                using (torch.NewDisposeScope())
                using (torch.inference_mode())
                {
                    await Task.Yield();
                }
            }
            async Task C() { using (NewDisposeScope()) await Task.Yield(); }
            """;
        Assert.Equal([3, 9, 15], ScopesSpanningSuspension(bad));

        const string good = """
            async Task A()
            {
                Tensor t;
                using (torch.NewDisposeScope())
                {
                    t = torch.ones(3).DetachFromDisposeScope(); // await in a comment
                }
                using (t) await Write(t, "{ await }");
                if (x)
                {
                    using var scope = torch.NewDisposeScope();
                    t = Compute();
                }
                await Task.Yield();
            }
            """;
        Assert.Empty(ScopesSpanningSuspension(good));
    }

    [Fact]
    public void No_service_holds_a_dispose_scope_across_an_await()
    {
        var roots = new[] { "services", "clients", "tests" }.Select(d => Path.Combine(DeployAssets.RepoRoot, d));
        var violations = new List<string>();
        int files = 0;
        foreach (var file in roots.SelectMany(r => Directory.EnumerateFiles(r, "*.cs", SearchOption.AllDirectories)))
        {
            var rel = Path.GetRelativePath(DeployAssets.RepoRoot, file);
            if (rel.Split(Path.DirectorySeparatorChar).Any(p => p is "obj" or "bin")) continue;
            files++;
            violations.AddRange(ScopesSpanningSuspension(File.ReadAllText(file)).Select(l => $"{rel}:{l}"));
        }
        Assert.True(files > 50, $"scanned only {files} files");
        Assert.True(violations.Count == 0, "dispose scope open across an await at:\n" + string.Join("\n", violations));
    }
}
