using System.Net;
using FluentValidation;
using Gateway.Broker;
using Gateway.Server.Contracts;
using Gateway.Server.Webhooks;

namespace Gateway.Server.Validation;

internal sealed class WebhookRequestValidator : AbstractValidator<WebhookRequest>
{
    public WebhookRequestValidator(AddressPolicy policy)
    {
        RuleFor(r => r).Custom((r, context) =>
        {
            if (r.Url is null) context.AddFailure("url", "'url' must be a string, not null.");
            else if (UrlError(r.Url, policy) is { } error) context.AddFailure("url", error);
        });
        RuleFor(r => r.Secret)
            .Must(s => s is null || WebhookSignature.DecodeSecret(s) is not null)
            .WithMessage($"'secret' must be '{WebhookSignature.SecretPrefix}' followed by the base64 of {WebhookSignature.MinSecretBytes} to " +
                         $"{WebhookSignature.MaxSecretBytes} random bytes (Standard Webhooks), e.g. '{WebhookSignature.NewSecret()}'.")
            .OverridePropertyName("secret");
        RuleFor(r => r.SecretRotationGraceSeconds).InclusiveBetween(0, 2_592_000)
            .WithMessage("'secretRotationGraceSeconds' must be from 0 to 2592000 (30 days).")
            .OverridePropertyName("secretRotationGraceSeconds");
        RuleFor(r => r.Concurrency).InclusiveBetween(1, 256).WithMessage("'concurrency' must be from 1 to 256.")
            .OverridePropertyName("concurrency");
        RuleFor(r => r.TimeoutMilliseconds).InclusiveBetween(1, 300_000).WithMessage("'timeoutMilliseconds' must be from 1 to 300000 (5 minutes).")
            .OverridePropertyName("timeoutMilliseconds");
        RuleFor(r => r.Format).IsInEnum().WithMessage("'format' must be 'raw', 'json' or 'cloudevents'.")
            .OverridePropertyName("format");
        When(r => r.Retry is not null, () =>
        {
            RuleFor(r => r.Retry!.InitialIntervalMilliseconds).InclusiveBetween(1, 86_400_000).OverridePropertyName("retry.initialIntervalMilliseconds")
                .WithMessage("'retry.initialIntervalMilliseconds' must be from 1 to 86400000 (a day).");
            RuleFor(r => r.Retry!.MaxIntervalMilliseconds).InclusiveBetween(1, 604_800_000).OverridePropertyName("retry.maxIntervalMilliseconds")
                .WithMessage("'retry.maxIntervalMilliseconds' must be from 1 to 604800000 (a week).");
            RuleFor(r => r.Retry!).Must(p => p.MaxIntervalMilliseconds >= p.InitialIntervalMilliseconds).OverridePropertyName("retry.maxIntervalMilliseconds")
                .WithMessage("'retry.maxIntervalMilliseconds' must be at least 'retry.initialIntervalMilliseconds'.");
            RuleFor(r => r.Retry!.MaxAttempts).InclusiveBetween(1, 1000).When(r => r.Retry!.MaxAttempts is not null).OverridePropertyName("retry.maxAttempts")
                .WithMessage("'retry.maxAttempts' must be from 1 to 1000, or null for no limit.");
            RuleFor(r => r.Retry!.MaxAgeSeconds).InclusiveBetween(1, 2_592_000).When(r => r.Retry!.MaxAgeSeconds is not null).OverridePropertyName("retry.maxAgeSeconds")
                .WithMessage("'retry.maxAgeSeconds' must be from 1 to 2592000 (30 days), or null for no limit.");
            RuleFor(r => r.Retry!).Must(p => p.MaxAttempts is not null || p.MaxAgeSeconds is not null).OverridePropertyName("retry")
                .WithMessage("'retry' needs a limit: 'maxAttempts', 'maxAgeSeconds' or both (without either a message would be retried forever).");
        });
    }

    /// <summary>Why <paramref name="text"/> cannot be a webhook's URL, or null.</summary>
    public static string? UrlError(string text, AddressPolicy policy)
    {
        if (text.Length > 2048) return "'url' must be at most 2048 characters.";
        if (!Uri.TryCreate(text, UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
            return $"'url' must be an absolute http or https URL; '{text}' is not.";
        if (url.UserInfo.Length > 0) return "'url' must not carry user info (user:password@); send credentials another way.";
        if (url.Fragment.Length > 0) return "'url' must not have a fragment (#…).";
        if (url.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6 && IPAddress.TryParse(url.IdnHost.Trim('[', ']'), out var address)
            && policy.Refusal(address) is { } reason)
            return $"'url' points at {address}, a {reason} address, which webhooks may not reach unless it is allowed in Gateway:Webhooks:AllowedNetworks.";
        return null;
    }
}

internal sealed class RedriveRequestValidator : AbstractValidator<RedriveRequest>
{
    public RedriveRequestValidator()
    {
        RuleFor(r => r.From).NotNull().WithMessage("'from' must name a queue.").ResourceName()
            .OverridePropertyName("from");
        RuleFor(r => r.Max).InclusiveBetween(1, 10_000).WithMessage("'max' must be from 1 to 10000.")
            .OverridePropertyName("max");
    }
}
