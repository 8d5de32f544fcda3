namespace Gateway.Server.Webhooks;

/// <summary>Settings of webhook delivery, bound from <c>Gateway:Webhooks</c> and validated at start.</summary>
public sealed class WebhookOptions
{
    /// <summary>
    /// Networks (CIDR, e.g. <c>10.1.0.0/16</c>, <c>127.0.0.1/32</c>, <c>fd12::/64</c>) that webhooks may reach although
    /// they are loopback, private, link-local or otherwise not public. Empty by default: webhooks reach public addresses
    /// only, so that whoever may create a webhook cannot make the gateway call its own admin ports, the internal network
    /// or a cloud metadata service (server-side request forgery). A cloud metadata address (169.254.169.254,
    /// fd00:ec2::254, …) is reachable only when an entry names exactly that address (/32 or /128).
    /// </summary>
    public List<string> AllowedNetworks { get; set; } = [];

    /// <summary>
    /// How much of an error response's body is read (and kept in the failure log); the rest is discarded and the
    /// connection closed. A 2xx answer's body is never read. The default is 1024 bytes.
    /// </summary>
    public int MaxResponseBodyBytes { get; set; } = 1024;

    /// <summary>Failed attempts kept per webhook for its status. The default is 20.</summary>
    public int RecentFailures { get; set; } = 20;
}
