using System.Security.Cryptography;
using System.Text;

namespace Gateway.Server.Webhooks;

/// <summary>
/// Standard Webhooks signatures (https://www.standardwebhooks.com): <c>v1,</c> + base64 of HMAC-SHA256, keyed with the
/// secret's bytes, of <c>{webhook-id}.{webhook-timestamp}.{body}</c>. Secrets are written <c>whsec_</c> + base64 of
/// 24 to 64 random bytes.
/// </summary>
internal static class WebhookSignature
{
    public const string SecretPrefix = "whsec_";
    public const int MinSecretBytes = 24;
    public const int MaxSecretBytes = 64;

    /// <summary>The key bytes of a <c>whsec_</c> secret, or null when the text is not one.</summary>
    public static byte[]? DecodeSecret(string? secret)
    {
        if (secret is null || !secret.StartsWith(SecretPrefix, StringComparison.Ordinal)) return null;
        var buffer = new byte[(secret.Length - SecretPrefix.Length) / 4 * 3 + 3];
        if (!Convert.TryFromBase64String(secret[SecretPrefix.Length..], buffer, out var written)) return null;
        return written is >= MinSecretBytes and <= MaxSecretBytes ? buffer[..written] : null;
    }

    /// <summary>The value of one signature, <c>v1,&lt;base64&gt;</c>.</summary>
    public static string Sign(byte[] key, string id, long timestamp, ReadOnlySpan<byte> body)
    {
        var prefix = Encoding.UTF8.GetBytes($"{id}.{timestamp}.");
        using var hmac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, key);
        hmac.AppendData(prefix);
        hmac.AppendData(body);
        Span<byte> mac = stackalloc byte[32];
        hmac.GetHashAndReset(mac);
        return "v1," + Convert.ToBase64String(mac);
    }

    /// <summary>A new random secret.</summary>
    public static string NewSecret() => SecretPrefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
}
