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
}
