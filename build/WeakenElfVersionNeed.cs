using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

/// <summary>
/// Marks one version requirement (e.g. GLIBCXX_3.4.32) of an ELF64 little-endian shared library
/// as weak, in every copy of the library found under <see cref="Directory"/>, when the host's
/// libstdc++ does not define that version. Layouts follow the System V gABI and the LSB
/// symbol-versioning spec: Elf64_Ehdr, Elf64_Shdr, Elf64_Verneed {vn_version, vn_cnt, vn_file,
/// vn_aux, vn_next}, Elf64_Vernaux {vna_hash, vna_flags, vna_other, vna_name, vna_next}.
/// </summary>
public class WeakenElfVersionNeed : Task
{
    [Required] public string Directory { get; set; } = "";
    [Required] public string FileName { get; set; } = "";
    [Required] public string Version { get; set; } = "";

    const uint ShtGnuVerneed = 0x6ffffffe;
    const ushort VerFlgWeak = 0x2;

    static readonly string[] LibStdCxxPaths =
    {
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/usr/lib/aarch64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/usr/lib/libstdc++.so.6",
    };

    public override bool Execute()
    {
        if (!System.IO.Directory.Exists(Directory)) return true;
        var targets = System.IO.Directory.GetFiles(Directory, FileName, SearchOption.AllDirectories);
        if (targets.Length == 0) return true;
        if (HostProvides(Version))
        {
            Log.LogMessage(MessageImportance.Low, $"host libstdc++ defines {Version}; {FileName} left as is");
            return true;
        }
        foreach (var path in targets)
        {
            try { Patch(path); }
            catch (Exception e) { Log.LogError($"{path}: cannot weaken {Version}: {e.Message}"); return false; }
        }
        return !Log.HasLoggedErrors;
    }

    bool HostProvides(string version)
    {
        foreach (var p in LibStdCxxPaths)
        {
            if (!File.Exists(p)) continue;
            var bytes = File.ReadAllBytes(p);
            var needle = Encoding.ASCII.GetBytes(version + "\0");
            return IndexOf(bytes, needle) >= 0;
        }
        return false; // no libstdc++ found where expected: patching is harmless
    }

    static int IndexOf(byte[] hay, byte[] needle)
    {
        for (int i = 0; i <= hay.Length - needle.Length; i++)
        {
            int j = 0;
            while (j < needle.Length && hay[i + j] == needle[j]) j++;
            if (j == needle.Length) return i;
        }
        return -1;
    }

    void Patch(string path)
    {
        var elf = File.ReadAllBytes(path);
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1) throw new InvalidDataException("only ELF64 little-endian is supported");

        ulong shoff = BitConverter.ToUInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        bool changed = false, found = false;
        for (int s = 0; s < shnum; s++)
        {
            int sh = checked((int)shoff + s * shentsize);
            if (BitConverter.ToUInt32(elf, sh + 4) != ShtGnuVerneed) continue;
            long secOff = (long)BitConverter.ToUInt64(elf, sh + 0x18);
            int link = (int)BitConverter.ToUInt32(elf, sh + 0x28);
            int strSh = checked((int)shoff + link * shentsize);
            long strOff = (long)BitConverter.ToUInt64(elf, strSh + 0x18);

            long vn = secOff;
            while (true)
            {
                int cnt = BitConverter.ToUInt16(elf, (int)vn + 2);
                long aux = vn + BitConverter.ToUInt32(elf, (int)vn + 8);
                for (int a = 0; a < cnt; a++)
                {
                    uint nameOff = BitConverter.ToUInt32(elf, (int)aux + 8);
                    if (ReadCString(elf, strOff + nameOff) == Version)
                    {
                        found = true;
                        ushort flags = BitConverter.ToUInt16(elf, (int)aux + 4);
                        if ((flags & VerFlgWeak) == 0)
                        {
                            flags |= VerFlgWeak;
                            elf[aux + 4] = (byte)(flags & 0xff);
                            elf[aux + 5] = (byte)(flags >> 8);
                            changed = true;
                        }
                    }
                    uint next = BitConverter.ToUInt32(elf, (int)aux + 12);
                    if (next == 0) break;
                    aux += next;
                }
                uint vnNext = BitConverter.ToUInt32(elf, (int)vn + 12);
                if (vnNext == 0) break;
                vn += vnNext;
            }
        }
        if (!found) { Log.LogMessage(MessageImportance.Low, $"{path}: no {Version} requirement"); return; }
        if (!changed) { Log.LogMessage(MessageImportance.Low, $"{path}: {Version} already weak"); return; }

        var tmp = path + ".weak-" + Guid.NewGuid().ToString("N") + ".tmp";
        File.WriteAllBytes(tmp, elf);
        File.Replace(tmp, path, null); // rename(2): atomic, breaks any hard link
        Log.LogMessage(MessageImportance.High, $"{path}: marked {Version} weak (host libstdc++ lacks it)");
    }

    static string ReadCString(byte[] b, long off)
    {
        int end = (int)off;
        while (end < b.Length && b[end] != 0) end++;
        return Encoding.ASCII.GetString(b, (int)off, end - (int)off);
    }
}
