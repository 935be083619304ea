package io.cowfs.cli;

import java.util.Collections;
import java.util.Iterator;

/**
 * Marks a positional parameter that takes a snapshot or view name ({@code completionCandidates}):
 * shell completion offers the store's names there, read when TAB is pressed with
 * {@code cowfs list --names} ({@link CompletionCommand}). The list itself is empty: the names
 * are not known when the completion script is generated.
 */
final class StoreNames implements Iterable<String> {
    @Override
    public Iterator<String> iterator() {
        return Collections.emptyIterator();
    }
}
