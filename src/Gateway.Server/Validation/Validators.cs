using System.Buffers.Text;
using System.Text;
using FluentValidation;
using Gateway.Broker;
using Gateway.Broker.Messages;
using Gateway.Broker.Queues;
using Gateway.Server.Contracts;
using Gateway.Server.Http;

namespace Gateway.Server.Validation;

internal static class RuleExtensions
{
    /// <summary>A vhost, exchange or queue name (the rule of <see cref="Names.Validate"/>).</summary>
    public static IRuleBuilderOptions<T, string> ResourceName<T>(this IRuleBuilder<T, string> rule) =>
        rule.Must(n => Names.Validate(n) is null).WithMessage((_, n) => $"'{{PropertyName}}' {Names.Validate(n)}.");

    /// <summary>An AMQP short string: at most 255 bytes of well-formed UTF-8.</summary>
    public static IRuleBuilderOptions<T, string?> ShortString<T>(this IRuleBuilder<T, string?> rule) =>
        rule.Must(s => s is null || (MessageMapping.IsWellFormed(s) && Encoding.UTF8.GetByteCount(s) <= Names.MaxBytes))
            .WithMessage($"'{{PropertyName}}' must be at most {Names.MaxBytes} bytes of valid UTF-8.");

    public static IRuleBuilderOptions<T, List<string>> DeliveryTags<T>(this IRuleBuilder<T, List<string>> rule) =>
        rule.NotEmpty().WithMessage("'deliveryTags' must list at least one tag.")
            .Must(t => t.Count <= Limits.MaxTagsPerRequest).WithMessage($"'deliveryTags' may list at most {Limits.MaxTagsPerRequest} tags.")
            .Must(t => t.All(tag => DeliveryTag.TryParse(tag, out DeliveryTag _)))
            .WithMessage((_, t) => $"'deliveryTags' contains '{t.First(tag => !DeliveryTag.TryParse(tag, out DeliveryTag _))}', which is not a delivery tag.");
}

/// <summary>
/// The checks of a message to publish, written as plain code because they run once per message on the publish hot
/// path (a batch carries thousands): FluentValidation's per-rule machinery costs more than the publish itself there.
/// The validators below call them through <c>Custom</c> rules, so errors still come out as FluentValidation failures.
/// </summary>
internal static class PublishChecks
{
    /// <summary>
    /// Whether <paramref name="r"/> passes, without building anything: the single publish runs this first and the
    /// validator (which words the failures) only when it fails.
    /// </summary>
    public static bool IsValid(PublishRequest r, GatewayLimitsOptions limits) => Check(r, "", limits, null, null);

    /// <summary>Adds a failure per broken rule to whichever context is given; true when nothing failed.</summary>
    public static bool Check(PublishRequest r, string prefix, GatewayLimitsOptions limits, ValidationContext<BatchPublishRequest>? batch,
        ValidationContext<PublishRequest>? single)
    {
        var valid = true;
        void Fail(string property, string message)
        {
            valid = false;
            batch?.AddFailure(prefix + property, message);
            single?.AddFailure(prefix + property, message);
        }

        if (r is null) { Fail("", "A message must be an object, not null."); return valid; }
        // RespectNullableAnnotations does not reach this optional member (the type has a required one), so check here.
        if (r.RoutingKey is null) Fail("routingKey", "'routingKey' must be a string (\"\" when omitted), not null.");
        else if (Names.ValidateRoutingKey(r.RoutingKey) is { } keyError) Fail("routingKey", $"'routingKey' {keyError}.");
        if (r.PayloadEncoding == PayloadEncoding.Base64)
        {
            if (!Base64.IsValid(r.Payload)) Fail("payload", "'payload' is not valid base64, but 'payloadEncoding' is 'base64'.");
        }
        else if (!MessageMapping.IsWellFormed(r.Payload))
            Fail("payload", "'payload' is not valid Unicode text (it contains a lone surrogate); send it as base64.");

        if (r.Properties is not { } p) return valid;
        if (p.DeliveryMode is { } mode and not (1 or 2)) Fail("properties.deliveryMode", "'deliveryMode' must be 1 (transient) or 2 (persistent).");
        if (p.Priority is { } priority and (< 0 or > 255)) Fail("properties.priority", "'priority' must be from 0 to 255.");
        if (p.Timestamp is < 0) Fail("properties.timestamp", "'timestamp' must be seconds since the Unix epoch, not negative.");
        if (p.Expiration is { } e && !(e.Length is > 0 and <= 10 && e.All(char.IsAsciiDigit) && long.Parse(e) <= int.MaxValue))
            Fail("properties.expiration", "'expiration' must be a TTL in milliseconds written as digits, at most 2147483647.");
        if (p.Headers?.TryGetValue(Message.DelayHeader, out var delay) == true && delay is not (long and >= 0 and <= uint.MaxValue))
            Fail("properties.headers", $"Header '{Message.DelayHeader}' must be a delay in milliseconds, an integer from 0 to {uint.MaxValue}.");
        ShortString(p.ContentType, "contentType");
        ShortString(p.ContentEncoding, "contentEncoding");
        ShortString(p.CorrelationId, "correlationId");
        ShortString(p.ReplyTo, "replyTo");
        ShortString(p.MessageId, "messageId");
        ShortString(p.Type, "type");
        ShortString(p.UserId, "userId");
        ShortString(p.AppId, "appId");
        if (p.Headers is { } headers)
        {
            foreach (var key in headers.Keys)
                if (key.Length == 0 || !MessageMapping.IsWellFormed(key) || Encoding.UTF8.GetByteCount(key) > Names.MaxBytes)
                    Fail("properties.headers", $"Header names must be 1 to {Names.MaxBytes} bytes of UTF-8.");
            if (HeaderLimits.Check(headers, limits) is { } tooMany) Fail("properties.headers", tooMany);
        }
        return valid;

        void ShortString(string? value, string name)
        {
            if (value is not null && (!MessageMapping.IsWellFormed(value) || Encoding.UTF8.GetByteCount(value) > Names.MaxBytes))
                Fail("properties." + name, $"'{name}' must be at most {Names.MaxBytes} bytes of valid UTF-8.");
        }
    }
}

/// <summary>
/// The count and size limits of a message's application headers (<see cref="GatewayLimitsOptions.MaxHeaders"/>,
/// <see cref="GatewayLimitsOptions.MaxHeaderBytes"/>), shared by every publish path.
/// </summary>
internal static class HeaderLimits
{
    /// <summary>Null when within the limits, else the refusal naming the limit.</summary>
    public static string? Check(IReadOnlyDictionary<string, object?>? headers, GatewayLimitsOptions limits)
    {
        if (headers is null) return null;
        if (headers.Count > limits.MaxHeaders)
            return $"A message may carry at most {limits.MaxHeaders} headers (Gateway:Limits:MaxHeaders); this one has {headers.Count}.";
        var size = SizeOf(headers, limits.MaxHeaderBytes);
        return size > limits.MaxHeaderBytes
            ? $"A message's headers may take at most {limits.MaxHeaderBytes} bytes (Gateway:Limits:MaxHeaderBytes); these take more."
            : null;
    }

    // Names and values as UTF-8, numbers 8 bytes; stops counting once past the limit.
    private static long SizeOf(object? value, long limit)
    {
        switch (value)
        {
            case null: return 0;
            case string s: return Encoding.UTF8.GetByteCount(s);
            case bool: return 1;
            case byte[] bytes: return bytes.Length;
            case IReadOnlyDictionary<string, object?> table:
            {
                long total = 0;
                foreach (var (name, entry) in table)
                {
                    total += Encoding.UTF8.GetByteCount(name) + SizeOf(entry, limit - total);
                    if (total > limit) break;
                }
                return total;
            }
            case System.Collections.IEnumerable list:
            {
                long total = 0;
                foreach (var entry in list)
                {
                    total += SizeOf(entry, limit - total);
                    if (total > limit) break;
                }
                return total;
            }
            default: return 8;
        }
    }
}

internal sealed class PublishRequestValidator : AbstractValidator<PublishRequest>
{
    public PublishRequestValidator(Microsoft.Extensions.Options.IOptions<GatewayLimitsOptions> limits)
    {
        var options = limits.Value;
        RuleFor(r => r).Custom((r, context) => PublishChecks.Check(r, "", options, null, context));
    }
}

internal sealed class BatchPublishRequestValidator : AbstractValidator<BatchPublishRequest>
{
    public BatchPublishRequestValidator(Microsoft.Extensions.Options.IOptions<GatewayLimitsOptions> limits)
    {
        var max = limits.Value.MaxBatchMessages;
        RuleFor(r => r.Messages).NotEmpty().WithMessage("'messages' must contain at least one message.")
            .Must(m => m.Count <= max).WithMessage($"'messages' may contain at most {max} messages (Gateway:Limits:MaxBatchMessages).");
        RuleFor(r => r).Custom((r, context) =>
        {
            for (var i = 0; i < r.Messages.Count; i++)
                PublishChecks.Check(r.Messages[i], $"messages[{i}].", limits.Value, context, null);
        });
    }
}

internal sealed class GetRequestValidator : AbstractValidator<GetRequest>
{
    public GetRequestValidator()
    {
        RuleFor(r => r.Max).InclusiveBetween(1, Limits.MaxGetMessages);
        RuleFor(r => r.WaitSeconds).InclusiveBetween(0, Limits.MaxWaitSeconds);
        RuleFor(r => r.LeaseSeconds).InclusiveBetween(1, Limits.MaxLeaseSeconds);
    }
}

internal sealed class AckRequestValidator : AbstractValidator<AckRequest>
{
    public AckRequestValidator() => RuleFor(r => r.DeliveryTags).DeliveryTags();
}

internal sealed class NackRequestValidator : AbstractValidator<NackRequest>
{
    public NackRequestValidator()
    {
        RuleFor(r => r.DeliveryTags).DeliveryTags();
        RuleFor(r => r.DelayMilliseconds).Must((r, delay) => delay is null || (delay is >= 0 and <= uint.MaxValue && r.Requeue))
            .WithMessage($"'delayMilliseconds' must be from 0 to {uint.MaxValue}, and only with requeue=true (a message that is not requeued is not redelivered).");
    }
}

internal sealed class ExtendRequestValidator : AbstractValidator<ExtendRequest>
{
    public ExtendRequestValidator()
    {
        RuleFor(r => r.DeliveryTags).DeliveryTags();
        RuleFor(r => r.LeaseSeconds).InclusiveBetween(1, Limits.MaxLeaseSeconds);
    }
}

internal sealed class ExchangeDeclareRequestValidator : AbstractValidator<ExchangeDeclareRequest>
{
    public ExchangeDeclareRequestValidator()
    {
        RuleFor(r => r.Arguments)
            .Must(a => a is null || !a.TryGetValue("alternate-exchange", out var ae) || (ae is string s && Names.Validate(s) is null))
            .WithMessage("Argument 'alternate-exchange' must be the name of an exchange (a string).");
    }
}

internal sealed class QueueDeclareRequestValidator : AbstractValidator<QueueDeclareRequest>
{
    public QueueDeclareRequestValidator()
    {
        RuleFor(r => r.Exclusive).Equal(false)
            .WithMessage("Exclusive queues belong to one connection: declare them over the WebSocket (a declare frame with exclusive: true).");
        // x- arguments are validated by the engine (QueueArguments), which names the argument at fault.
    }
}

internal sealed class BindingRequestValidator : AbstractValidator<BindingRequest>
{
    public BindingRequestValidator()
    {
        RuleFor(r => r.Source).ResourceName();
        RuleFor(r => r.Destination).ResourceName();
        RuleFor(r => r.RoutingKey).NotNull().WithMessage("'routingKey' must be a string (\"\" when omitted), not null.")
            .Must(k => Names.ValidateRoutingKey(k) is null)
            .WithMessage((_, k) => $"'routingKey' {Names.ValidateRoutingKey(k)}.");
    }
}

internal sealed class UserRequestValidator : AbstractValidator<UserRequest>
{
    public UserRequestValidator() =>
        RuleFor(r => r.Tags).Must(t => t.Count <= 8 && t.All(tag => !string.IsNullOrEmpty(tag)))
            .WithMessage("'tags' must hold at most 8 non-empty tags.");
}

internal sealed class KeyRequestValidator : AbstractValidator<KeyRequest>
{
    public KeyRequestValidator() =>
        RuleFor(r => r.Description).MaximumLength(255).WithMessage("'description' must be at most 255 characters.");
}

internal sealed class PermissionRequestValidator : AbstractValidator<PermissionRequest>
{
    public PermissionRequestValidator()
    {
        RuleFor(r => r.Configure).NotNull().MaximumLength(1024).WithMessage("'configure' must be a regular expression of at most 1024 characters.");
        RuleFor(r => r.Write).NotNull().MaximumLength(1024).WithMessage("'write' must be a regular expression of at most 1024 characters.");
        RuleFor(r => r.Read).NotNull().MaximumLength(1024).WithMessage("'read' must be a regular expression of at most 1024 characters.");
    }
}
