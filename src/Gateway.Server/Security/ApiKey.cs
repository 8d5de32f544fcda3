using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Gateway.Server.Security;

/// <summary>
/// API keys: <c>gw_{id}.{secret}</c>, the id 12 characters of lowercase base32 (public: it names the key in lists and
/// logs), the secret 32 random bytes (256 bits) in base64url. Only the SHA-256 of the secret is stored: a key of 256
/// random bits needs no slow hash, and a leaked table gives nothing to try offline.
/// </summary>
internal static class ApiKey
{
    public const string Prefix = "gw_";
    private const string Base32 = "abcdefghijklmnopqrstuvwxyz234567";
    private const int IdLength = 12;

    /// <summary>A new key: its id and the full text to show once.</summary>
    public static (string Id, string Text, byte[] Hash) Generate()
    {
        Span<byte> idBytes = stackalloc byte[IdLength];
        RandomNumberGenerator.Fill(idBytes);
        var id = Id(idBytes);
        Span<byte> secret = stackalloc byte[32];
        RandomNumberGenerator.Fill(secret);
        var secretText = Base64Url.EncodeToString(secret);
        return (id, $"{Prefix}{id}.{secretText}", Hash(secretText));
    }

    /// <summary>Splits a presented key into id and secret; false when it is not in Gateway's format.</summary>
    public static bool TryParse(string text, out string id, out string secret)
    {
        id = secret = "";
        if (!text.StartsWith(Prefix, StringComparison.Ordinal) || text.Length != Prefix.Length + IdLength + 1 + 43 || text[Prefix.Length + IdLength] != '.')
            return false;
        id = text.Substring(Prefix.Length, IdLength);
        secret = text[(Prefix.Length + IdLength + 1)..];
        return true;
    }

    /// <summary>
    /// The id and secret of any presented key: Gateway's format, or a configured bootstrap key of another shape, whose
    /// id is derived from its hash (so it can be listed and revoked like any other).
    /// </summary>
    public static (string Id, string Secret) Identify(string text)
    {
        if (TryParse(text, out var id, out var secret)) return (id, secret);
        var hash = Hash(text);
        return (Id(hash), text);
    }

    // A key id: IdLength lowercase base32 characters, one per byte (its low five bits).
    private static string Id(ReadOnlySpan<byte> bytes)
    {
        Span<char> chars = stackalloc char[IdLength];
        for (var i = 0; i < chars.Length; i++) chars[i] = Base32[bytes[i] & 31];
        return new string(chars);
    }

    /// <summary>The stored form of a secret.</summary>
    public static byte[] Hash(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));

    /// <summary>Constant-time comparison of a presented secret with a stored hash.</summary>
    public static bool Matches(string secret, byte[] hash) => CryptographicOperations.FixedTimeEquals(Hash(secret), hash);
}
