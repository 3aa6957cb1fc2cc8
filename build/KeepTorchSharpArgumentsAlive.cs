using System;
using System.IO;
using System.Linq;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;
using Mono.Cecil;
using Mono.Cecil.Cil;

// TorchSharp 0.107.0 frees the native memory of its Scalar and Tensor objects in finalizers, and
// its methods do not keep their arguments alive across the native calls they make: once a method
// has read a Scalar's handle, the Scalar may be collected and finalized while libtorch still
// reads it (a garbage coefficient, or an error from c10/core/Scalar.h). This task rewrites the
// TorchSharp.dll of an output folder so that every method ends with GC.KeepAlive of each of its
// object arguments (Scalars, Tensors, arrays and lists of them) and of `this`: an argument then
// lives until the method returns. The rewritten copy is renamed over the output file, never written in place
// (outputs may be hard links into the package cache); a folder already rewritten is left alone.
public sealed class KeepTorchSharpArgumentsAlive : Task
{
    [Required] public string Directory { get; set; } = "";

    const string Marker = "ConceptSuite.KeptAlive.AllObjectArguments";

    public override bool Execute()
    {
        var path = Path.Combine(Directory, "TorchSharp.dll");
        if (!File.Exists(path)) return true;
        var resolver = new DefaultAssemblyResolver();
        resolver.AddSearchDirectory(Directory);
        using (var module = ModuleDefinition.ReadModule(path, new ReaderParameters { AssemblyResolver = resolver, InMemory = true }))
        {
            if (module.Types.Any(t => t.Name == Marker)) return true;
            var keepAlive = module.ImportReference(typeof(GC).GetMethod(nameof(GC.KeepAlive)));
            // Every object argument: Scalars and Tensors, and the arrays and lists of them whose
            // handles a method passes to libtorch.
            bool Kept(TypeReference t) => !t.IsValueType && !t.IsByReference && !t.IsPointer && !t.IsGenericParameter
                && !t.IsFunctionPointer && !t.IsRequiredModifier && !t.IsOptionalModifier && !t.IsPinned && t.FullName != "System.String";
            int methods = 0;
            foreach (var type in module.GetTypes())
                foreach (var method in type.Methods.Where(m => m.HasBody))
                {
                    var args = method.Parameters.Where(p => Kept(p.ParameterType)).Select(p => (int)p.Sequence).ToList();
                    if (!method.IsStatic && !type.IsValueType) args.Insert(0, 0);
                    if (args.Count == 0) continue;
                    // Long branch forms (inserted code may push a short branch out of range).
                    foreach (var i in method.Body.Instructions)
                        if (LongForm.TryGetValue(i.OpCode.Code, out var longForm)) i.OpCode = longForm;
                    var il = method.Body.GetILProcessor();
                    foreach (var ret in method.Body.Instructions.Where(i => i.OpCode == OpCodes.Ret).ToList())
                    {
                        // The ret instruction becomes the first load, so branches to it run the sequence.
                        ret.OpCode = OpCodes.Ldarg; ret.Operand = ArgumentOf(method, args[0]);
                        var last = ret;
                        var call = il.Create(OpCodes.Call, keepAlive);
                        il.InsertAfter(last, call); last = call;
                        foreach (var a in args.Skip(1))
                        {
                            var load = il.Create(OpCodes.Ldarg, ArgumentOf(method, a));
                            il.InsertAfter(last, load); last = load;
                            var c = il.Create(OpCodes.Call, keepAlive);
                            il.InsertAfter(last, c); last = c;
                        }
                        il.InsertAfter(last, il.Create(OpCodes.Ret));
                    }
                    method.Body.MaxStackSize += 1;
                    methods++;
                }
            module.Types.Add(new TypeDefinition("", Marker, TypeAttributes.NotPublic | TypeAttributes.Abstract | TypeAttributes.Sealed, module.TypeSystem.Object));
            var tmp = path + ".keepalive-" + Guid.NewGuid().ToString("N");
            module.Write(tmp);
            File.Delete(path);
            File.Move(tmp, path);
            Log.LogMessage(MessageImportance.Low, $"TorchSharp.dll in {Directory}: {methods} methods keep their arguments alive");
        }
        return true;
    }

    static readonly System.Collections.Generic.Dictionary<Code, OpCode> LongForm = new()
    {
        [Code.Br_S] = OpCodes.Br, [Code.Brfalse_S] = OpCodes.Brfalse, [Code.Brtrue_S] = OpCodes.Brtrue,
        [Code.Beq_S] = OpCodes.Beq, [Code.Bge_S] = OpCodes.Bge, [Code.Bgt_S] = OpCodes.Bgt, [Code.Ble_S] = OpCodes.Ble,
        [Code.Blt_S] = OpCodes.Blt, [Code.Bne_Un_S] = OpCodes.Bne_Un, [Code.Bge_Un_S] = OpCodes.Bge_Un,
        [Code.Bgt_Un_S] = OpCodes.Bgt_Un, [Code.Ble_Un_S] = OpCodes.Ble_Un, [Code.Blt_Un_S] = OpCodes.Blt_Un,
        [Code.Leave_S] = OpCodes.Leave,
    };

    static ParameterDefinition ArgumentOf(MethodDefinition m, int sequence) =>
        sequence == 0 && !m.IsStatic ? m.Body.ThisParameter : m.Parameters[sequence - (m.IsStatic ? 0 : 1)];
}
