using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ConceptSuite.Tests.Security;

/// <summary>
/// A private CA and a server certificate it signed (names localhost and 127.0.0.1), made in
/// process with <see cref="CertificateRequest"/> and written as the server takes them: PEM
/// certificate + key, and the same as PKCS#12 with a password; the CA as a PEM bundle.
/// </summary>
public sealed record TestCertificates(string CaBundle, string CertificatePem, string KeyPem, string Pfx, string PfxPassword)
{
    public static TestCertificates Create(string dir, string caName = "ConceptSuite test CA")
    {
        Directory.CreateDirectory(dir);
        var from = DateTimeOffset.UtcNow.AddDays(-1);
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest($"CN={caName}", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using var ca = caRequest.CreateSelfSigned(from, from.AddDays(30));

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7F;
        using var leaf = request.Create(ca, from, from.AddDays(29), serial);
        using var withKey = leaf.CopyWithPrivateKey(key);

        var set = new TestCertificates(Path.Combine(dir, "ca.pem"), Path.Combine(dir, "server.pem"), Path.Combine(dir, "server.key"),
            Path.Combine(dir, "server.pfx"), "pfx-password");
        File.WriteAllText(set.CaBundle, ca.ExportCertificatePem());
        File.WriteAllText(set.CertificatePem, leaf.ExportCertificatePem());
        File.WriteAllText(set.KeyPem, key.ExportPkcs8PrivateKeyPem());
        File.WriteAllBytes(set.Pfx, withKey.Export(X509ContentType.Pkcs12, set.PfxPassword));
        return set;
    }
}
