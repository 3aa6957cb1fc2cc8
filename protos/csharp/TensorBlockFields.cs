using System.Collections.Concurrent;
using Google.Protobuf;
using Google.Protobuf.Reflection;

namespace ConceptSuite.Contracts;

/// <summary>
/// The TensorBlock fields of a message type (singular fields, oneof members included), found once
/// per type by reflection: how the shared-memory path finds the blocks of any request.
/// </summary>
public static class TensorBlockFields
{
    static readonly ConcurrentDictionary<MessageDescriptor, FieldDescriptor[]> Cache = new();

    public static FieldDescriptor[] Of(MessageDescriptor type) => Cache.GetOrAdd(type, d => d.Fields.InDeclarationOrder()
        .Where(f => f.FieldType == FieldType.Message && !f.IsRepeated && f.MessageType == TensorBlock.Descriptor).ToArray());

    /// <summary>
    /// The message with each of its blocks (or itself, when it is a block) replaced by
    /// <paramref name="rewrite"/>'s answer; a copy when anything changed, the message itself otherwise.
    /// </summary>
    public static T Rewrite<T>(T message, Func<TensorBlock, TensorBlock> rewrite) =>
        RewriteAsync(message, b => ValueTask.FromResult(rewrite(b))).Result;

    /// <inheritdoc cref="Rewrite{T}"/>
    public static async ValueTask<T> RewriteAsync<T>(T message, Func<TensorBlock, ValueTask<TensorBlock>> rewrite)
    {
        if (message is TensorBlock block) return (T)(object)await rewrite(block);
        if (message is not IMessage m) return message;
        IMessage? copy = null;
        foreach (var f in Of(m.Descriptor))
        {
            if (f.Accessor.GetValue(m) is not TensorBlock b) continue;
            var placed = await rewrite(b);
            if (ReferenceEquals(placed, b)) continue;
            copy ??= (IMessage)((IDeepCloneable<T>)m).Clone()!;
            f.Accessor.SetValue(copy, placed);
        }
        return copy is null ? message : (T)copy;
    }
}
