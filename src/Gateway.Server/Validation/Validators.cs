using System.Buffers.Text;
using System.Text;
using FluentValidation;
using Gateway.Broker;
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

internal sealed class MessagePropertiesValidator : AbstractValidator<MessagePropertiesDto>
{
    public MessagePropertiesValidator()
    {
        RuleFor(p => p.DeliveryMode).InclusiveBetween(1, 2).WithMessage("'deliveryMode' must be 1 (transient) or 2 (persistent).");
        RuleFor(p => p.Priority).InclusiveBetween(0, 255);
        RuleFor(p => p.Timestamp).GreaterThanOrEqualTo(0);
        RuleFor(p => p.Expiration)
            .Must(e => e is null || (e.Length is > 0 and <= 10 && e.All(char.IsAsciiDigit) && long.Parse(e) <= int.MaxValue))
            .WithMessage("'expiration' must be a TTL in milliseconds written as digits, at most 2147483647.");
        RuleFor(p => p.ContentType).ShortString();
        RuleFor(p => p.ContentEncoding).ShortString();
        RuleFor(p => p.CorrelationId).ShortString();
        RuleFor(p => p.ReplyTo).ShortString();
        RuleFor(p => p.MessageId).ShortString();
        RuleFor(p => p.Type).ShortString();
        RuleFor(p => p.UserId).ShortString();
        RuleFor(p => p.AppId).ShortString();
        RuleForEach(p => p.Headers).Must(h => h.Key.Length > 0 && Encoding.UTF8.GetByteCount(h.Key) <= Names.MaxBytes)
            .WithMessage("Header names must be 1 to 255 bytes of UTF-8.");
    }
}

internal sealed class PublishRequestValidator : AbstractValidator<PublishRequest>
{
    public PublishRequestValidator()
    {
        RuleFor(r => r.RoutingKey).Must(k => Names.ValidateRoutingKey(k) is null)
            .WithMessage((_, k) => $"'routingKey' {Names.ValidateRoutingKey(k)}.");
        RuleFor(r => r.Payload).Must(p => Base64.IsValid(p))
            .When(r => r.PayloadEncoding == PayloadEncoding.Base64)
            .WithMessage("'payload' is not valid base64, but 'payloadEncoding' is 'base64'.");
        RuleFor(r => r.Payload).Must(MessageMapping.IsWellFormed)
            .When(r => r.PayloadEncoding == PayloadEncoding.String)
            .WithMessage("'payload' is not valid Unicode text (it contains a lone surrogate); send it as base64.");
        RuleFor(r => r.Properties!).SetValidator(new MessagePropertiesValidator()).When(r => r.Properties is not null);
    }
}

internal sealed class BatchPublishRequestValidator : AbstractValidator<BatchPublishRequest>
{
    public BatchPublishRequestValidator(Microsoft.Extensions.Options.IOptions<GatewayLimitsOptions> limits)
    {
        var max = limits.Value.MaxBatchMessages;
        RuleFor(r => r.Messages).NotEmpty().WithMessage("'messages' must contain at least one message.")
            .Must(m => m.Count <= max).WithMessage($"'messages' may contain at most {max} messages (Gateway:Limits:MaxBatchMessages).");
        RuleForEach(r => r.Messages).NotNull().SetValidator(new PublishRequestValidator());
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
    public NackRequestValidator() => RuleFor(r => r.DeliveryTags).DeliveryTags();
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
            .WithMessage("Exclusive queues belong to one connection; they are not supported over HTTP yet.");
        RuleForEach(r => r.Arguments).Must(a => !a.Key.StartsWith("x-", StringComparison.Ordinal))
            .WithMessage((_, a) => $"Queue argument '{a.Key}' is not supported yet; keys starting with 'x-' are reserved for broker features.");
    }
}

internal sealed class BindingRequestValidator : AbstractValidator<BindingRequest>
{
    public BindingRequestValidator()
    {
        RuleFor(r => r.Source).ResourceName();
        RuleFor(r => r.Destination).ResourceName();
        RuleFor(r => r.RoutingKey).Must(k => Names.ValidateRoutingKey(k) is null)
            .WithMessage((_, k) => $"'routingKey' {Names.ValidateRoutingKey(k)}.");
    }
}
