using ConceptSuite.Client;
using ConceptSuite.Contracts;
using ConceptSuite.Tests.Infrastructure;

namespace ConceptSuite.Tests.Embedding;

/// <summary>
/// The .NET client's file reader (clients/dotnet DatasetFiles, NumpyArrays) on files numpy writes
/// in the test (Debian's python3-numpy): every layout, dtype and container it accepts gives the
/// pixels numpy holds, and every hostile file is refused naming the file, before its declared size
/// is allocated.
/// </summary>
public sealed class DatasetFilesTests : IDisposable
{
    readonly string _dir = Path.Combine(Path.GetTempPath(), "cs-files-" + Guid.NewGuid().ToString("N"));

    public DatasetFilesTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    /// <summary>Runs a numpy script in the test folder (x: uint8 [5, 4, 6, 3] with x[n, h, w, c] = n·72 + h·18 + w·3 + c, y: [5]).</summary>
    void Numpy(string body)
    {
        var script = "import numpy as np, json, zipfile\n" +
            "x = (np.arange(5 * 4 * 6 * 3) % 256).astype(np.uint8).reshape(5, 4, 6, 3)\n" +
            "y = np.array([0, 1, 2, 1, 0])\n" + body;
        var (code, stdout, stderr) = ExternalTool.Run("/usr/bin/python3", ["-c", script], _dir);
        Assert.True(code == 0, stdout + stderr);
    }

    string P(string name) => Path.Combine(_dir, name);

    /// <summary>x[n, h, w, c] of the scripts' array.</summary>
    static byte X(long n, long h, long w, long c) => (byte)((n * 72 + h * 18 + w * 3 + c) % 256);

    static void AssertIsX(HostTensor images)
    {
        Assert.Equal([5L, 3, 4, 6], images.Shape);
        for (int n = 0; n < 5; n++)
            for (int c = 0; c < 3; c++)
                for (int h = 0; h < 4; h++)
                    for (int w = 0; w < 6; w++)
                        Assert.Equal(X(n, h, w, c), images.Data[((n * 3 + c) * 4 + h) * 6 + w]);
    }

    [Fact]
    public void NpyNpzAndSafetensorsInEveryLayoutGiveNumpysPixelsAsNchwWithTheirLabels()
    {
        Numpy("""
            np.save('nhwc.npy', x); np.save('labels.npy', y)
            np.save('nchw_f01.npy', x.transpose(0, 3, 1, 2).astype(np.float32) / 255)
            np.save('grey.npy', x[..., 0].astype(np.float64)); np.save('y_u1.npy', y.astype(np.uint8))
            np.savez_compressed('d.npz', images=x.astype(np.int32), labels=y.astype(np.int16))
            np.savez('nolabels.npz', images=x, other=y)
            h = json.dumps({'images': {'dtype': 'U8', 'shape': [5, 4, 6, 3], 'data_offsets': [0, x.nbytes]},
                            'labels': {'dtype': 'I64', 'shape': [5], 'data_offsets': [x.nbytes, x.nbytes + 40]},
                            '__metadata__': {'format': 'np'}}).encode()
            open('d.safetensors', 'wb').write(len(h).to_bytes(8, 'little') + h + x.tobytes() + y.astype('<i8').tobytes())
            cube = (np.arange(2 * 27) % 256).astype(np.uint8).reshape(2, 3, 3, 3); np.save('cube.npy', cube); np.save('y2.npy', np.array([1, 0]))
            """);
        var nhwc = DatasetFiles.Read(P("nhwc.npy"));
        AssertIsX(nhwc.Images!);
        Assert.Equal([0L, 1, 2, 1, 0], nhwc.Labels!.Span<long>().ToArray());
        Assert.Equal("nhwc", nhwc.Name);
        // Float 0-1 channels-first: ×255 and rounded, the same bytes.
        AssertIsX(DatasetFiles.Read(P("nchw_f01.npy"), new DatasetFileOptions { LabelsPath = P("y_u1.npy") }).Images!);
        // [N, H, W] float64 0-255: one channel.
        var grey = DatasetFiles.Read(P("grey.npy")).Images!;
        Assert.Equal([5L, 1, 4, 6], grey.Shape);
        Assert.Equal(X(2, 3, 5, 0), grey.Data[(2 * 4 + 3) * 6 + 5]);
        // npz (deflated; int32 images, int16 labels) and safetensors: keys images and labels.
        var npz = DatasetFiles.Read(P("d.npz"));
        AssertIsX(npz.Images!);
        Assert.Equal(nhwc.Labels.Data, npz.Labels!.Data);
        var st = DatasetFiles.Read(P("d.safetensors"));
        AssertIsX(st.Images!);
        Assert.Equal(nhwc.Labels.Data, st.Labels!.Data);
        Assert.Contains("'labels'", Assert.Throws<DatasetFileException>(() => DatasetFiles.Read(P("nolabels.npz"))).Message);

        // [2, 3, 3, 3] is ambiguous: auto reads channels-first (documented), nhwc says otherwise.
        var auto = DatasetFiles.Read(P("cube.npy"), new DatasetFileOptions { LabelsPath = P("y2.npy") }).Images!;
        var last = DatasetFiles.Read(P("cube.npy"), new DatasetFileOptions { LabelsPath = P("y2.npy"), Layout = ImageLayout.Nhwc }).Images!;
        // cube[n, a, b, c] = (n·27 + a·9 + b·3 + c): channels-first keeps the bytes, channels-last moves axis 3 to 1.
        Assert.Equal(Enumerable.Range(0, 54).Select(i => (byte)i), auto.Data);
        Assert.Equal((byte)(0 * 27 + 1 * 9 + 2 * 3 + 0), last.Data[(0 * 3 + 0) * 9 + 1 * 3 + 2]);   // last[0, c=0, h=1, w=2] = cube[0, 1, 2, 0]
        Assert.Equal((byte)(1 * 27 + 0 * 9 + 1 * 3 + 2), last.Data[(1 * 3 + 2) * 9 + 0 * 3 + 1]);   // last[1, c=2, h=0, w=1] = cube[1, 0, 1, 2]
    }

    [Fact]
    public void HostileFilesAreRefusedNamingTheFileBeforeTheirDeclaredSizeIsAllocated()
    {
        Numpy("""
            import os
            np.save('labels.npy', y); os.mkdir('bad'); np.save('bad/images.npy', x); np.save('bad/labels.npy', y.astype(np.float32))
            np.save('x.npy', x); np.save('y4.npy', y[:4]); np.save('yneg.npy', -y); np.save('y2d.npy', y[:, None])
            np.save('big_endian.npy', x.astype('>f4')); np.save('bool.npy', x > 3); np.save('five.npy', x[:, None])
            np.save('four_channels.npy', np.zeros((5, 4, 6, 4), np.uint8)); np.save('objects.npy', np.array([{}], dtype=object), allow_pickle=True)
            np.save('nan.npy', np.where(x > 100, np.nan, 0.5).astype(np.float32)); np.save('range.npy', x.astype(np.float32) + 200)
            np.save('fortran.npy', np.asfortranarray(x.astype(np.float32)))
            open('corrupt.npy', 'wb').write(b'\x93NUMPY\x01\x00\x10\x00{garbage header}')
            hd = "{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 64, 64), }"
            hd += ' ' * (63 - len(hd) % 64) + '\n'
            open('huge.npy', 'wb').write(b'\x93NUMPY\x01\x00' + len(hd).to_bytes(2, 'little') + hd.encode() + bytes(64))
            hd = "{'descr': '|u1', 'fortran_order': False, 'shape': (1000, 28, 28), }"
            hd += ' ' * (63 - len(hd) % 64) + '\n'
            open('short.npy', 'wb').write(b'\x93NUMPY\x01\x00' + len(hd).to_bytes(2, 'little') + hd.encode() + bytes(784))
            h = json.dumps({'images': {'dtype': 'U8', 'shape': [100000, 64, 64, 3], 'data_offsets': [0, 100000 * 64 * 64 * 3]}}).encode()
            open('lying.safetensors', 'wb').write(len(h).to_bytes(8, 'little') + h + bytes(100))
            open('notzip.npz', 'wb').write(b'PK not a zip'); open('data.txt', 'w').write('not data')
            os.mkdir('unlabelled'); np.save('unlabelled/x.npy', x)
            """);
        string Refused(string file, DatasetFileOptions? o = null) => Assert.Throws<DatasetFileException>(() => DatasetFiles.Read(P(file), o)).Message;
        var labels = new DatasetFileOptions { LabelsPath = P("y4.npy") };
        Assert.Contains("labels are float32; they must be integers", Refused("bad/images.npy"));
        Assert.Contains("bad/labels.npy", Refused("bad/images.npy"));
        Assert.Contains("4 labels for 5 images", Refused("x.npy", labels));
        Assert.Contains("labels must be >= 0", Refused("x.npy", new() { LabelsPath = P("yneg.npy") }));
        Assert.Contains("one-dimensional", Refused("x.npy", new() { LabelsPath = P("y2d.npy") }));
        var y = new DatasetFileOptions();   // labels.npy next to the images: five labels
        Assert.Contains("big-endian", Refused("big_endian.npy", y));
        Assert.Contains("images are bool", Refused("bool.npy", y));
        Assert.Contains("must be [N, H, W], [N, H, W, C] or [N, C, H, W]", Refused("five.npy", y));
        Assert.Contains("neither 1 nor 3 channels", Refused("four_channels.npy", y));
        Assert.Contains("'|O' is not supported", Refused("objects.npy", y));
        Assert.Contains("NaN or Inf", Refused("nan.npy", y));
        Assert.Contains("must lie in 0-1 (floats) or 0-255, got 200..", Refused("range.npy", y));
        Assert.Contains("Fortran order", Refused("fortran.npy", y));
        Assert.Contains("corrupt .npy header", Refused("corrupt.npy", y));
        Assert.Contains("corrupt.npy", Refused("corrupt.npy", y));
        // 100 000 000 000 × 64 × 64 float32: refused by its declared size, nothing of it allocated.
        long before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Contains("over the import limit", Refused("huge.npy", y));
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 1 << 20);
        // A declared shape the file does not hold: refused before reading.
        Assert.Contains("784000 bytes, but the file holds 784 bytes", Refused("short.npy", y));
        before = GC.GetAllocatedBytesForCurrentThread();
        Assert.Contains("lies outside the file", Refused("lying.safetensors"));
        Assert.InRange(GC.GetAllocatedBytesForCurrentThread() - before, 0, 1 << 20);
        Assert.Contains("not an .npz file", Refused("notzip.npz"));
        Assert.Contains("no labels: put them in", Refused("unlabelled/x.npy"));
        Assert.Contains("unknown kind of file '.txt'", Refused("data.txt"));
        // A smaller import limit refuses an ordinary file by its header.
        Assert.Contains("over the import limit of 100", Refused("x.npy", new() { LabelsPath = P("y4.npy"), MaxBytes = 100 }));
    }

    [Fact]
    public void AnImageFolderIsItsClassFoldersInOrdinalOrderAndAMalformedFolderIsRefused()
    {
        var root = P("animals");
        foreach (var (cls, files) in new[] { ("dog", new[] { "b.png", "a.JPG", "sub/c.webp", "notes.txt" }), ("cat", new[] { "z.png" }) })
            foreach (var f in files)
            {
                var path = Path.Combine(root, cls, f);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                File.WriteAllBytes(path, [1, 2, 3]);
            }
        var d = DatasetFiles.Read(root);
        Assert.Equal("animals", d.Name);
        Assert.Equal(["cat", "dog"], d.ClassNames);
        Assert.Null(d.Images);
        Assert.Equal([("cat/z.png", 0L), ("dog/a.JPG", 1L), ("dog/b.png", 1L), ("dog/sub/c.webp", 1L)],
            d.Files.Select(f => (Path.GetRelativePath(root, f.Path), f.Label)).ToArray());
        Assert.Contains("--labels is for array files", Assert.Throws<DatasetFileException>(() => DatasetFiles.Read(root, new() { LabelsPath = "x" })).Message);

        Directory.CreateDirectory(Path.Combine(root, "empty"));
        Assert.Contains("class folder holds no images", Assert.Throws<DatasetFileException>(() => DatasetFiles.Read(root)).Message);
        var flat = P("flat");
        Directory.CreateDirectory(flat);
        Assert.Contains("has no subfolders", Assert.Throws<DatasetFileException>(() => DatasetFiles.Read(flat)).Message);
        File.WriteAllBytes(Path.Combine(flat, "x.png"), [1]);
        Assert.Contains("holds images at its top level", Assert.Throws<DatasetFileException>(() => DatasetFiles.Read(flat)).Message);
        Assert.Contains("no such file or folder", Assert.Throws<DatasetFileException>(() => DatasetFiles.Read(P("missing"))).Message);
    }
}
