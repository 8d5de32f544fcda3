using System.Net;
using System.Net.Sockets;

namespace Gateway.Server.Webhooks;

/// <summary>
/// Which IP addresses a webhook may connect to: public unicast addresses, plus the networks of
/// <see cref="WebhookOptions.AllowedNetworks"/>. Checked on every address the connection actually uses (after DNS
/// resolution, at connect time), so that a name that resolves, or later re-resolves, to an internal address is refused.
/// </summary>
internal sealed class AddressPolicy
{
    // Not public: where a request could reach the gateway itself, its neighbours or the platform.
    private static readonly (IPNetwork Network, string Kind)[] Refused =
    [
        (IPNetwork.Parse("0.0.0.0/8"), "this-network"),
        (IPNetwork.Parse("10.0.0.0/8"), "private"),
        (IPNetwork.Parse("100.64.0.0/10"), "shared (carrier-grade NAT)"),
        (IPNetwork.Parse("127.0.0.0/8"), "loopback"),
        (IPNetwork.Parse("169.254.0.0/16"), "link-local"),
        (IPNetwork.Parse("172.16.0.0/12"), "private"),
        (IPNetwork.Parse("192.0.0.0/24"), "IETF protocol assignments"),
        (IPNetwork.Parse("192.0.2.0/24"), "documentation"),
        (IPNetwork.Parse("192.88.99.0/24"), "6to4 relay"),
        (IPNetwork.Parse("192.168.0.0/16"), "private"),
        (IPNetwork.Parse("198.18.0.0/15"), "benchmarking"),
        (IPNetwork.Parse("198.51.100.0/24"), "documentation"),
        (IPNetwork.Parse("203.0.113.0/24"), "documentation"),
        (IPNetwork.Parse("224.0.0.0/4"), "multicast"),
        (IPNetwork.Parse("240.0.0.0/4"), "reserved"),
        (IPNetwork.Parse("::/128"), "unspecified"),
        (IPNetwork.Parse("::1/128"), "loopback"),
        (IPNetwork.Parse("64:ff9b::/96"), "NAT64"),
        (IPNetwork.Parse("64:ff9b:1::/48"), "NAT64"),
        (IPNetwork.Parse("100::/64"), "discard"),
        (IPNetwork.Parse("2001::/23"), "IETF protocol assignments"),
        (IPNetwork.Parse("2001:db8::/32"), "documentation"),
        (IPNetwork.Parse("2002::/16"), "6to4"),
        (IPNetwork.Parse("fc00::/7"), "unique local (private)"),
        (IPNetwork.Parse("fe80::/10"), "link-local"),
        (IPNetwork.Parse("fec0::/10"), "site-local"),
        (IPNetwork.Parse("ff00::/8"), "multicast"),
    ];

    // Cloud instance metadata services (AWS, GCP, Azure, OpenStack; ECS task metadata; Alibaba; AWS over IPv6).
    private static readonly IPAddress[] Metadata =
    [
        IPAddress.Parse("169.254.169.254"), IPAddress.Parse("169.254.170.2"), IPAddress.Parse("169.254.169.253"),
        IPAddress.Parse("100.100.100.200"), IPAddress.Parse("fd00:ec2::254"), IPAddress.Parse("fd00:ec2::23"),
    ];

    private readonly IPNetwork[] _allowed;

    public AddressPolicy(IEnumerable<string> allowedNetworks) =>
        _allowed = allowedNetworks.Select(n => IPNetwork.Parse(n.Trim())).ToArray();

    /// <summary>Null when a webhook may connect to <paramref name="address"/>, else why not ("loopback", "cloud metadata"…).</summary>
    public string? Refusal(IPAddress address)
    {
        // IPv4-mapped IPv6 (::ffff:127.0.0.1) reaches the IPv4 address: judge that one.
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (address.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)) return "not an IP address";
        if (address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId != 0) address = new IPAddress(address.GetAddressBytes());
        if (Array.IndexOf(Metadata, address) >= 0)
        {
            var exact = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
            return _allowed.Any(n => n.PrefixLength == exact && n.Contains(address)) ? null : "cloud metadata";
        }
        if (_allowed.Any(n => n.Contains(address))) return null;
        foreach (var (network, kind) in Refused)
            if (network.Contains(address)) return kind;
        return null;
    }

    /// <summary>True when every setting of <paramref name="networks"/> is a CIDR network.</summary>
    public static bool AreValid(IEnumerable<string> networks) => networks.All(n => IPNetwork.TryParse(n?.Trim(), out _));
}
