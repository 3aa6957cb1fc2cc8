using System.Globalization;
using System.Text.RegularExpressions;
using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Tests.Infrastructure;
using SkiaSharp;
using Xunit.Abstractions;

namespace ConceptSuite.Tests.Gateway;

/// <summary>
/// Users' files imported by both clients against the real server binary: `concept import` (the CLI's
/// own build, as a process) and the installed Python package (clients/python/check_datasets.py) read
/// the same image folder (PNG and JPEG written here with SkiaSharp) and the same .npy files (written
/// by numpy) into the same artifacts; the PNGs' pixels arrive as drawn; hostile files are refused by
/// each client naming the file, and the server keeps serving. Then the README's "Your data" Python
/// example runs as written: an .npy import and craft-explain on it (-p dataset=artifact:ID).
/// </summary>
public sealed class FileImportClientTests(ITestOutputHelper output)
{
    const string ReadmeAddress = "127.0.0.1:50051";
    const int Side = 20;

    /// <summary>The CLI's own build output of this configuration (as the server's, <see cref="ServerProcess.ServerOutputDll"/>).</summary>
    static string CliDll
    {
        get
        {
            var tfmDir = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
            return Path.Combine(Deploy.DeployAssets.RepoRoot, "clients", "cli", "bin", tfmDir.Parent!.Name, tfmDir.Name, "concept.dll");
        }
    }

    /// <summary>Pixel (x, y) of image i of class c: a gradient per class and image.</summary>
    static SKColor Pixel(int c, int i, int x, int y) => new((byte)(c == 0 ? 200 : 10 * x), (byte)(12 * y), (byte)(40 * i + x), 255);

    /// <summary>An image folder: classes "circle" and "square", three images each; one JPEG; a text file that is skipped.</summary>
    static void WriteFolder(string root)
    {
        foreach (var (cls, c) in new[] { ("circle", 0), ("square", 1) })
        {
            Directory.CreateDirectory(Path.Combine(root, cls));
            for (int i = 0; i < 3; i++)
            {
                using var bmp = new SKBitmap(Side, Side, SKColorType.Rgba8888, SKAlphaType.Unpremul);
                for (int y = 0; y < Side; y++)
                    for (int x = 0; x < Side; x++) bmp.SetPixel(x, y, Pixel(c, i, x, y));
                bool jpeg = c == 1 && i == 2;
                using var data = bmp.Encode(jpeg ? SKEncodedImageFormat.Jpeg : SKEncodedImageFormat.Png, 95);
                File.WriteAllBytes(Path.Combine(root, cls, $"{i}.{(jpeg ? "jpg" : "png")}"), data.ToArray());
            }
        }
        File.WriteAllText(Path.Combine(root, "square", "notes.txt"), "not an image");
    }

    static async Task<(int Exit, string Output)> Cli(string address, params string[] args)
    {
        var (code, stdout, stderr) = await ExternalTool.RunAsync("dotnet", [CliDll, "--gateway", address, .. args], timeoutS: 120);
        return (code, (stdout + stderr).Replace("\n", ""));    // Spectre wraps long lines
    }

    static string Id(string log, string label)
    {
        var m = Regex.Match(log, label + @" ([0-9a-f]{64})");
        Assert.True(m.Success, $"no '{label} ID' in:\n{log}");
        return m.Groups[1].Value;
    }

    /// <summary>The "Your data" Python example of the top README.</summary>
    static string ReadmeExample()
    {
        var text = File.ReadAllText(Path.Combine(Deploy.DeployAssets.RepoRoot, "README.md")).Replace("\r\n", "\n");
        var m = Regex.Match(text, @"<!-- example: your data, executed by tests/ConceptSuite.Tests/Gateway/FileImportClientTests.cs -->\n```python\n(.*?)```", RegexOptions.Singleline);
        Assert.True(m.Success, "README.md: no 'your data' example block after its marker comment");
        return m.Groups[1].Value;
    }

    [Fact]
    public async Task TheCliAndThePythonClientImportTheSameFilesAsTheSameArtifactsRefuseHostileOnesAndTheReadmeExampleRunsAWorkflowOnThem()
    {
        Assert.True(File.Exists(CliDll), $"{CliDll} is missing: build clients/cli (dotnet build Suite.sln) first");
        var work = PythonClientTests.Work();
        try
        {
            var python = await PythonClientTests.InstallAsync(work);
            var folder = Path.Combine(work, "shapes");
            WriteFolder(folder);
            var arrays = Path.Combine(work, "arrays");
            Directory.CreateDirectory(arrays);
            var (code, so, se) = await ExternalTool.RunAsync("/usr/bin/python3", ["-c",
                "import numpy as np; r = np.random.default_rng(3); np.save('images.npy', r.integers(0, 256, (40, 16, 16, 3), dtype=np.uint8)); " +
                "np.save('labels.npy', r.integers(0, 4, 40)); open('corrupt.npy', 'wb').write(b'\\x93NUMPY\\x01\\x00\\x08\\x00{broken}')"], arrays);
            Assert.True(code == 0, so + se);
            using var server = await ServerProcess.StartAsync(Path.Combine(work, "data"));

            var (exit, log) = await Cli(server.Address, "import", folder);
            output.WriteLine(log);
            Assert.True(exit == 0, log + "\nserver log:\n" + server.Output);
            var folderId = Id(log, "dataset");
            Assert.Contains($"dataset=artifact:{folderId}", log);
            (exit, log) = await Cli(server.Address, "import", Path.Combine(arrays, "images.npy"), "--name", "arrays");
            Assert.True(exit == 0, log);
            var npyId = Id(log, "dataset");

            // Hostile files through the CLI: exit code 2 (bad input), the file named; nothing reaches the server.
            (exit, log) = await Cli(server.Address, "import", Path.Combine(arrays, "corrupt.npy"));
            Assert.Equal(2, exit);
            Assert.Contains("corrupt.npy: corrupt .npy header", log);
            (exit, log) = await Cli(server.Address, "import", folder, "--labels", Path.Combine(arrays, "labels.npy"));
            Assert.Equal(2, exit);
            Assert.Contains("labels are its subfolders", log);
            // An undecodable image: the server refuses it (INVALID_ARGUMENT), the CLI names the file, the server keeps serving.
            var broken = Path.Combine(work, "broken");
            Directory.CreateDirectory(Path.Combine(broken, "a"));
            File.WriteAllBytes(Path.Combine(broken, "a", "x.png"), [0x89, (byte)'P', (byte)'N', (byte)'G', 1, 2, 3]);
            (exit, log) = await Cli(server.Address, "import", broken);
            Assert.Equal(2, exit);
            Assert.Contains("images[0].data", log);
            Assert.Contains("broken/a/x.png", log);

            // The PNGs arrive with their pixels as drawn, classes in folder order; the JPEG within its compression error.
            var gateway = new GatewayService.GatewayServiceClient(server.Channel);
            var (info, tensors) = await ArtifactStreams.ReadAllAsync(gateway.GetArtifact(new GetArtifactRequest { Id = folderId }), folderId, default);
            Assert.Equal([6L, 3, Side, Side], tensors["images"].Shape);
            Assert.Equal([0L, 0, 0, 1, 1, 1], tensors["labels"].Span<long>().ToArray());
            Assert.Contains("\"circle\",\"square\"", info.MetadataJson.Replace(" ", ""));
            var img = tensors["images"].Data;
            int maxJpegError = 0;
            for (int row = 0; row < 6; row++)
                for (int y = 0; y < Side; y++)
                    for (int x = 0; x < Side; x++)
                    {
                        var p = Pixel(row / 3, row % 3, x, y);
                        byte[] expected = [p.Red, p.Green, p.Blue];
                        for (int ch = 0; ch < 3; ch++)
                        {
                            int got = img[((row * 3 + ch) * Side + y) * Side + x];
                            if (row == 5) maxJpegError = Math.Max(maxJpegError, Math.Abs(got - expected[ch]));
                            else Assert.Equal(expected[ch], got);
                        }
                    }
            Assert.InRange(maxJpegError, 1, 40);      // lossy, but the gradient survives

            // The Python client: the same files, the same artifacts; its own hostile-file checks.
            var check = Path.Combine(work, "src", "clients", "python", "check_datasets.py");
            (code, so, se) = await ExternalTool.RunAsync(python, [check, server.Address.Replace("http://", ""), folder, arrays], work, 300);
            log = so + se;
            output.WriteLine(log);
            Assert.True(code == 0, log + "\nserver log:\n" + server.Output);
            Assert.Equal(folderId, Id(log, "folder artifact"));
            Assert.Equal(npyId, Id(log, "npy artifact"));
            Assert.Contains("npz and safetensors: same artifact as the npy", log);
            Assert.Contains("layouts: [2, 3, 3, 3] auto is channels-first, layout='nhwc' channels-last", log);
            Assert.Contains("hostile files: float labels, label count, corrupt header, huge shape, object dtype, 5-D images refused before any call", log);
            Assert.Contains("file imports: all checks passed", log);

            // The README's "Your data" example, as written, with the server's address.
            var example = ReadmeExample();
            Assert.Single(Regex.Matches(example, Regex.Escape(ReadmeAddress)));
            var run = Path.Combine(work, "example");
            Directory.CreateDirectory(run);
            File.WriteAllText(Path.Combine(run, "example.py"), example.Replace(ReadmeAddress, server.Address.Replace("http://", "")));
            (code, so, se) = await ExternalTool.RunAsync(python, ["example.py"], run, 300);
            log = so + se;
            output.WriteLine(log);
            Assert.True(code == 0, log + "\nserver log:\n" + server.Output);
            var m = Regex.Match(log, @"train (\d+) test (\d+) NMF R2 ([0-9.]+) head test accuracy ([0-9.]+)");
            Assert.True(m.Success, log);
            double At(int g) => double.Parse(m.Groups[g].Value, CultureInfo.InvariantCulture);
            Assert.Equal(120, At(1));                  // 150 rows: round(0.2 · 150) = 30 for test, the rest for train
            Assert.Equal(30, At(2));
            Assert.InRange(At(3), 0.5, 0.95);          // measured 0.718
            Assert.InRange(At(4), 0.6, 1.0);           // measured 0.867 (4 shapes: chance 0.25)
        }
        finally
        {
            try { Directory.Delete(work, true); } catch (IOException) { }
        }
    }
}
