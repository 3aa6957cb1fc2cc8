using System.Globalization;
using System.Net;
using System.Text;

namespace ConceptSuite.Gateway.Atlas;

/// <summary>
/// Writes the atlas as one self-contained HTML file: styles inline, every image a data URI, no
/// network access. A reader meets it in this order: a header with the workflow, the data and the
/// key numbers; the concepts, most important first, one card each (name, alternatives, images,
/// activation distribution, importance per class, prevalence); the models with their labelled
/// plots; samples of the data; and last, folded, the step table. A small script at the end checks
/// that every image decoded and writes the result into the page (#atlas-check), so a headless
/// browser can verify the file.
/// </summary>
public static class AtlasHtml
{
    static string E(string s) => WebUtility.HtmlEncode(s);
    static string N(double v) => double.IsFinite(v) ? v.ToString(Math.Abs(v) >= 100 ? "0.#" : "0.####", CultureInfo.InvariantCulture) : "–";
    static string Pct(double v) => double.IsFinite(v) ? (100 * v).ToString(v < 0.001 ? "0.###" : "0.#", CultureInfo.InvariantCulture) + " %" : "–";
    static string Img(byte[] png, string alt, string cls = "") =>
        $"<img class=\"{cls}\" alt=\"{E(alt)}\" src=\"data:image/png;base64,{Convert.ToBase64String(png)}\">";
    static string Figure(byte[] png, string alt, string caption) =>
        $"<figure>{Img(png, alt, "plot")}<figcaption>{E(caption)}</figcaption></figure>";

    /// <summary>Metric lists longer than this are folded.</summary>
    const int ShownMetrics = 6;

    const string Style =
        "body{font-family:system-ui,sans-serif;margin:2em auto;color:#222;max-width:1200px;padding:0 1em}h1{margin-bottom:.2em}" +
        ".sub{color:#666}.kpis{display:flex;flex-wrap:wrap;gap:.8em;margin:1em 0}.kpi{border:1px solid #ddd;border-radius:6px;padding:.5em .8em;min-width:9em}" +
        ".kpi b{display:block;font-size:140%}.kpi span{color:#666;font-size:85%}" +
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top;font-size:90%}" +
        "th{background:#f3f3f3}.concept{border:1px solid #ddd;border-radius:8px;padding:1em;margin:1em 0}.concept h3{margin-top:0}" +
        ".alts{color:#555;font-size:90%}.facts{font-size:90%;color:#333}.imgs img{margin:2px;image-rendering:pixelated}" +
        "figure{margin:0}figcaption{font-size:85%;color:#555;max-width:420px}.failed{color:#b00}.warning{color:#a60}" +
        ".plot{max-width:100%}.texts{margin:.5em 0}.tokctx{font-family:ui-monospace,monospace;font-size:90%;margin:.2em 0;line-height:1.6}" +
        ".tok{padding:1px 1px;border-radius:3px}.tok.top{outline:2px solid #c40;font-weight:bold}.tok.special{color:#999}.val{color:#666;display:inline-block;min-width:4em}" +
        ".trust td:first-child{color:#555}.row{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}details{margin:1em 0}summary{cursor:pointer}";

    public static string Render(AtlasModel m)
    {
        var h = new StringBuilder();
        h.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">");
        h.Append($"<title>{E(m.Title)} — concept atlas</title><style>{Style}</style></head><body>");
        Header(h, m);
        Concepts(h, m);
        Models(h, m);
        Data(h, m);
        Steps(h, m);
        h.Append("<div id=\"atlas-check\">checking images…</div><script>");
        h.Append("function check(){var imgs=[...document.images];var bad=imgs.filter(i=>!(i.complete&&i.naturalWidth>0)).length;");
        h.Append("document.getElementById('atlas-check').textContent='images='+imgs.length+' broken='+bad;}");
        h.Append("if(document.readyState==='complete')check();else window.addEventListener('load',check);</script>");
        h.Append("</body></html>");
        return h.ToString();
    }

    static void Header(StringBuilder h, AtlasModel m)
    {
        h.Append($"<header><h1>{E(m.Title)}</h1><p class=\"sub\">concept atlas of workflow <code>{E(m.WorkflowId)}</code></p>");
        if (m.Data.Length > 0) h.Append($"<p>{E(m.Data)}</p>");
        if (m.KeyNumbers.Count > 0)
        {
            h.Append("<div class=\"kpis\">");
            foreach (var (label, value, note) in m.KeyNumbers)
                h.Append($"<div class=\"kpi\" title=\"{E(note)}\"><b>{N(value)}</b>{E(label)}<br><span>{E(note)}</span></div>");
            h.Append("</div>");
        }
        if (m.Concepts.Count > 0) h.Append($"<p class=\"sub\">{m.Concepts.Count} concepts below, most important first.</p>");
        h.Append("</header>");
    }

    static void Concepts(StringBuilder h, AtlasModel m)
    {
        if (m.Concepts.Count == 0) return;
        h.Append($"<h2>Concepts</h2><p class=\"sub\">{E(m.ConceptSource)}</p>");
        if (AtlasFonts.File is null) h.Append($"<p class=\"warning\">{E(AtlasFonts.Missing)}</p>");
        if (m.FiringDensity.Count > 0)
            h.Append(Figure(AtlasPlots.FiringDensity(m.FiringDensity, m.FiringBinLog10), "latent firing density histogram",
                "How many latents fire at each rate: log10 of the share of scanned tokens where a latent is active (dead latents, never active, are not shown)."));
        foreach (var c in m.Concepts)
        {
            h.Append($"<section class=\"concept\"><h3>{E(c.Name)} <span class=\"sub\">{E(c.ScoreName)} {N(c.Score)}</span></h3>");
            if (c.Alternatives.Count > 0)
                h.Append($"<p class=\"alts\">also: {string.Join(", ", c.Alternatives.Select(a => $"{E(a.Word)} ({N(a.Similarity)})"))}</p>");
            if (c.Gloss is { } g)
                h.Append($"<p class=\"gloss\">in a sentence: <i>{E(g.Word)}</i> — {E(g.Gloss)} ({N(g.Similarity)})</p>");
            var facts = new List<string>();
            if (double.IsFinite(c.Importance)) facts.Add($"importance {N(c.Importance)}");
            if (double.IsFinite(c.Prevalence) && c.ScoreName != "prevalence") facts.Add($"present in {Pct(c.Prevalence)} of the samples");
            if (facts.Count > 0) h.Append($"<p class=\"facts\">{string.Join(" · ", facts)}</p>");
            if (c.Trust is { } t) Trust(h, t);
            if (c.TopTexts.Count > 0) Texts(h, c);
            h.Append("<div class=\"row\"><div>");
            h.Append($"<div class=\"imgs\">{string.Concat(c.TopImages.Select((i, r) => Img(i, $"{c.Name}: top image {r + 1}")))}</div>");
            if (c.Heatmaps.Count > 0) h.Append($"<div class=\"imgs\">{string.Concat(c.Heatmaps.Select((i, r) => Img(i, $"{c.Name}: where it is, image {r + 1}")))}</div>");
            h.Append("</div>");
            if (c.Density.Count > 0)
                h.Append(Figure(AtlasPlots.Density(c.Density, m.DensityBinLog10), c.Name + " activation distribution",
                    "How strongly the concept is present where it is present (log10 of its coefficient)."));
            if (c.ImportancePerClass.Count > 0)
                h.Append(Figure(AtlasPlots.Importance(c.ImportancePerClass, m.ClassNames), c.Name + " importance per class",
                    c.ScoreName == "prevalence" ? "Share of each class's samples showing the concept." : "Mean importance of the concept for each class's score."));
            h.Append("</div></section>");
        }
    }

    /// <summary>A concept's trust figures against ground truth, labelled, as a small table.</summary>
    static void Trust(StringBuilder h, AtlasTrust t)
    {
        h.Append("<table class=\"trust\" aria-label=\"trust\"><tr><th colspan=\"2\">trust (ground truth)</th></tr>");
        h.Append($"<tr><td>detects best</td><td>{E(t.Matched)} (AUC {N(t.Auc)})</td></tr>");
        h.Append($"<tr><td>relied on</td><td>in {t.Relied} evaluated images</td></tr>");
        h.Append($"<tr><td>existence</td><td>{(t.Relied > 0 ? $"{Pct(t.Existence)} of them show {E(t.Matched)}" : "–")}</td></tr>");
        if (double.IsFinite(t.Location))
            h.Append($"<tr><td>location</td><td>{(t.Located > 0 ? $"{N(t.Location)} {(t.ChanceCorrected ? "of its map inside the mask beyond the mask's area share (0: a uniform map)" : "of its map inside the mask")} ({t.Located} images)" : "–")}</td></tr>");
        h.Append("</table>");
    }

    /// <summary>
    /// A text feature's top tokens in context: one line per text, WordPiece continuations ("##")
    /// joined to their word, each token's background as strong as its activation relative to the
    /// top token's, the top token outlined; the activation is the token's tooltip.
    /// </summary>
    static void Texts(StringBuilder h, AtlasConcept c)
    {
        h.Append("<div class=\"texts\">");
        foreach (var (t, r) in c.TopTexts.Select((t, r) => (t, r)))
        {
            double max = Math.Max(t.Value, t.Activations.DefaultIfEmpty(0).Max());
            h.Append($"<p class=\"tokctx\" aria-label=\"{E(c.Name)}: top text {r + 1}, activation {N(t.Value)}\"><span class=\"val\">{N(t.Value)}</span> ");
            if (t.CutBefore) h.Append("… ");
            for (int i = 0; i < t.Tokens.Count; i++)
            {
                var tok = t.Tokens[i];
                bool piece = tok.StartsWith("##", StringComparison.Ordinal);
                if (i > 0 && !piece) h.Append(' ');
                double a = i < t.Activations.Count && max > 0 ? Math.Clamp(t.Activations[i] / max, 0, 1) : 0;
                var style = a > 0 ? $" style=\"background:rgba(255,120,0,{a.ToString("0.##", CultureInfo.InvariantCulture)})\"" : "";
                var cls = i == t.Highlight ? "tok top" : tok is "[CLS]" or "[SEP]" ? "tok special" : "tok";
                var act = i < t.Activations.Count ? t.Activations[i] : 0;
                h.Append($"<span class=\"{cls}\"{style} title=\"{N(act)}\">{E(piece ? tok[2..] : tok)}</span>");
            }
            if (t.CutAfter) h.Append(" …");
            h.Append("</p>");
        }
        h.Append("</div>");
    }

    static void Models(StringBuilder h, AtlasModel m)
    {
        if (m.Models.Count == 0 && m.SparsityPath.Count == 0 && m.FidelityCurves.Count == 0) return;
        h.Append("<h2>Models</h2>");
        if (m.Models.Count > 0)
        {
            var cols = m.Models.SelectMany(x => x.Metrics.Keys).Distinct().OrderBy(k => k, StringComparer.Ordinal).ToList();
            h.Append("<table><tr><th>model</th>");
            foreach (var c in cols) h.Append($"<th>{E(c.Replace('_', ' '))}</th>");
            h.Append("</tr>");
            foreach (var x in m.Models)
            {
                h.Append($"<tr><td>{E(x.Model)}</td>");
                foreach (var c in cols) h.Append($"<td>{(x.Metrics.TryGetValue(c, out var v) ? N(v) : "")}</td>");
                h.Append("</tr>");
            }
            h.Append("</table>");
        }
        h.Append("<div class=\"row\">");
        if (m.SparsityPath.Count > 0)
            h.Append(Figure(AtlasPlots.SparsityAccuracy(m.SparsityPath), "sparsity–accuracy path",
                "Held-out accuracy of the sparse concept model against the number of concepts each class may use."));
        if (m.FidelityCurves.Count > 0)
            h.Append(Figure(AtlasPlots.Fidelity(m.FidelityCurves), "fidelity curves",
                "Model score as concepts are removed (deletion) or inserted (insertion) in order of importance."));
        h.Append("</div>");
    }

    static void Data(StringBuilder h, AtlasModel m)
    {
        if (m.Samples.Count == 0) return;
        h.Append("<h2>Data</h2><table>");
        foreach (var (cls, imgs) in m.Samples)
            h.Append($"<tr><th>{E(cls)}</th><td class=\"imgs\">{string.Concat(imgs.Select((i, r) => Img(i, $"{cls}: sample {r + 1}")))}</td></tr>");
        h.Append("</table>");
    }

    static void Steps(StringBuilder h, AtlasModel m)
    {
        h.Append($"<details><summary><h2 style=\"display:inline\">Steps ({m.Steps.Count})</h2></summary>");
        h.Append("<table><tr><th>step</th><th>call</th><th>state</th><th>metrics</th></tr>");
        foreach (var s in m.Steps)
        {
            var lines = s.Metrics.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{E(kv.Key)} = {N(kv.Value)}").ToList();
            var metrics = lines.Count <= ShownMetrics ? string.Join("<br>", lines)
                : $"{string.Join("<br>", lines.Take(ShownMetrics))}<details><summary>{lines.Count - ShownMetrics} more</summary>{string.Join("<br>", lines.Skip(ShownMetrics))}</details>";
            var state = s.State + (s.Reused ? " (reused)" : "") + (s.Error.Length > 0 ? $"<br><span class=\"failed\">{E(s.Error)}</span>" : "");
            h.Append($"<tr><td>{E(s.Name)}</td><td><code>{E(s.Call)}</code></td><td>{state}</td><td>{metrics}</td></tr>");
        }
        h.Append("</table></details>");
    }
}
