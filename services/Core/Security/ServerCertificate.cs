using System.Security.Cryptography.X509Certificates;
using ConceptSuite.Core.Hosting;

namespace ConceptSuite.Core.Security;

/// <summary>The server certificate of ConceptSuite:Listen: PEM (certificate + key files) or PKCS#12 (file + password).</summary>
public static class ServerCertificate
{
    /// <summary>The certificate with its private key; null when no certificate is configured (plaintext h2c).</summary>
    public static X509Certificate2? Load(ListenOptions listen)
    {
        var path = listen.CertificatePath;
        if (string.IsNullOrEmpty(path)) return null;
        if (!File.Exists(path)) throw new ArgumentException($"ConceptSuite:Listen:CertificatePath: no file {path}");
        if (path.EndsWith(".pfx", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".p12", StringComparison.OrdinalIgnoreCase))
            return X509CertificateLoader.LoadPkcs12FromFile(path, listen.CertificateKeyPath);
        if (string.IsNullOrEmpty(listen.CertificateKeyPath))
            throw new ArgumentException("ConceptSuite:Listen:CertificateKeyPath: a PEM certificate needs its PEM private key file");
        using var pem = X509Certificate2.CreateFromPemFile(path, listen.CertificateKeyPath);
        // Kestrel on Linux needs the key in an exportable, persisted form: round-trip through PKCS#12.
        return X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
    }
}
