namespace ConceptSuite.Core.Data;

/// <summary>A vocabulary word: lemma (underscores as spaces), part of speech, tagged-sense count (frequency in SemCor).</summary>
public sealed record VocabularyWord(string Word, char Pos, int TagCount);
