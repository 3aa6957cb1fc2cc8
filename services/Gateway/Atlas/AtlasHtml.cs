using System.Globalization;
using System.Net;
using System.Text;

namespace ConceptSuite.Gateway.Atlas;

/// <summary>
/// Writes the atlas as one self-contained HTML file: styles inline, every image a data URI, no
/// network access. A small script at the end checks that every image decoded and writes the
/// result into the page (#atlas-check), so a headless browser can verify the file.
/// </summary>
public static class AtlasHtml
{
    static string E(string s) => WebUtility.HtmlEncode(s);
    static string N(double v) => double.IsFinite(v) ? v.ToString(Math.Abs(v) >= 100 ? "0.#" : "0.####", CultureInfo.InvariantCulture) : "–";
    static string Img(byte[] png, string alt, string cls = "") =>
        $"<img class=\"{cls}\" alt=\"{E(alt)}\" src=\"data:image/png;base64,{Convert.ToBase64String(png)}\">";

    public static string Render(AtlasModel m)
    {
        var h = new StringBuilder();
        h.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">");
        h.Append($"<title>{E(m.Title)} — concept atlas</title><style>");
        h.Append("body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}h1{margin-bottom:0}.sub{color:#666}");
        h.Append("table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top;font-size:90%}");
        h.Append("th{background:#f3f3f3}.concept{border:1px solid #ddd;border-radius:6px;padding:1em;margin:1em 0}.imgs img{margin:2px;image-rendering:pixelated}");
        h.Append(".failed{color:#b00}.plot{max-width:100%}.row{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}</style></head><body>");
        h.Append($"<h1>{E(m.Title)}</h1><p class=\"sub\">concept atlas of workflow <code>{E(m.WorkflowId)}</code></p>");

        h.Append("<h2>Steps</h2><table><tr><th>step</th><th>call</th><th>state</th><th>metrics</th></tr>");
        foreach (var s in m.Steps)
        {
            var metrics = string.Join("<br>", s.Metrics.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{E(kv.Key)} = {N(kv.Value)}"));
            var state = s.State + (s.Reused ? " (reused)" : "") + (s.Error.Length > 0 ? $"<br><span class=\"failed\">{E(s.Error)}</span>" : "");
            h.Append($"<tr><td>{E(s.Name)}</td><td><code>{E(s.Call)}</code></td><td>{state}</td><td>{metrics}</td></tr>");
        }
        h.Append("</table>");

        if (m.Models.Count > 0)
        {
            var cols = m.Models.SelectMany(x => x.Metrics.Keys).Distinct().OrderBy(k => k, StringComparer.Ordinal).ToList();
            h.Append("<h2>Models</h2><table><tr><th>model</th>");
            foreach (var c in cols) h.Append($"<th>{E(c)}</th>");
            h.Append("</tr>");
            foreach (var x in m.Models)
            {
                h.Append($"<tr><td>{E(x.Model)}</td>");
                foreach (var c in cols) h.Append($"<td>{(x.Metrics.TryGetValue(c, out var v) ? N(v) : "")}</td>");
                h.Append("</tr>");
            }
            h.Append("</table>");
        }

        if (m.SparsityPath.Count > 0 || m.FidelityCurves.Count > 0)
        {
            h.Append("<h2>Plots</h2>");
            if (AtlasFonts.File is null) h.Append($"<p class=\"warning\">{E(AtlasFonts.Missing)}</p>");
            h.Append("<div class=\"row\">");
            if (m.SparsityPath.Count > 0) h.Append(Img(AtlasPlots.SparsityAccuracy(m.SparsityPath), "sparsity–accuracy path", "plot"));
            if (m.FidelityCurves.Count > 0) h.Append(Img(AtlasPlots.Fidelity(m.FidelityCurves), "fidelity curves", "plot"));
            h.Append("</div>");
        }

        if (m.Samples.Count > 0)
        {
            h.Append("<h2>Data</h2><table>");
            foreach (var (cls, imgs) in m.Samples)
                h.Append($"<tr><th>{E(cls)}</th><td class=\"imgs\">{string.Concat(imgs.Select(i => Img(i, cls)))}</td></tr>");
            h.Append("</table>");
        }

        if (m.Concepts.Count > 0)
        {
            h.Append($"<h2>Concepts</h2><p class=\"sub\">{E(m.ConceptSource)}</p>");
            foreach (var c in m.Concepts)
            {
                h.Append($"<div class=\"concept\"><h3>{E(c.Name)} <span class=\"sub\">{E(c.ScoreName)} {N(c.Score)}</span></h3><div class=\"row\"><div>");
                h.Append($"<div class=\"imgs\">{string.Concat(c.TopImages.Select(i => Img(i, c.Name + " top image")))}</div>");
                if (c.Heatmaps.Count > 0) h.Append($"<div class=\"imgs\">{string.Concat(c.Heatmaps.Select(i => Img(i, c.Name + " heatmap")))}</div>");
                h.Append("</div>");
                if (c.ImportancePerClass.Count > 0) h.Append(Img(AtlasPlots.Importance(c.ImportancePerClass, m.ClassNames), c.Name + " importance per class", "plot"));
                h.Append("</div></div>");
            }
        }

        h.Append("<div id=\"atlas-check\">checking images…</div><script>");
        h.Append("function check(){var imgs=[...document.images];var bad=imgs.filter(i=>!(i.complete&&i.naturalWidth>0)).length;");
        h.Append("document.getElementById('atlas-check').textContent='images='+imgs.length+' broken='+bad;}");
        h.Append("if(document.readyState==='complete')check();else window.addEventListener('load',check);</script>");
        h.Append("</body></html>");
        return h.ToString();
    }
}
