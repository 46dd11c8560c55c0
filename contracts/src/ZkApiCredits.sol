// SPDX-License-Identifier: MIT OR Apache-2.0
pragma solidity ^0.8.28;

import {PoseidonT2} from "poseidon-solidity/PoseidonT2.sol";
import {PoseidonT3} from "poseidon-solidity/PoseidonT3.sol";
import {PoseidonT4} from "poseidon-solidity/PoseidonT4.sol";
import {InternalBinaryIMT} from "@zk-kit/imt.sol/internal/InternalBinaryIMT.sol";
import {SNARK_SCALAR_FIELD} from "@zk-kit/imt.sol/Constants.sol";

/// @title Prepaid credits for anonymous API calls paid with RLN tickets.
///
/// @notice A user deposits `limit * price` wei once, together with an RLN identity commitment
/// `PoseidonT2([secret])`. The leaf `PoseidonT3([idCommitment, limit])` (RLN's "rate commitment")
/// enters a depth-20 Poseidon Merkle tree whose empty leaf is 0, the tree RLN's circuit proves
/// membership in. Each API call then carries an RLN proof with a fresh `messageId < limit`; the
/// provider learns nothing but a nullifier `PoseidonT2([PoseidonT4([secret, externalNullifier,
/// messageId])])`, so calls cannot be linked to the deposit nor to each other.
///
/// Guarantees, without trusting either side:
/// - The provider is paid only for tickets it really served. It commits the nullifiers it served
///   in keccak batch roots (`commitServed`); after the user reveals the secret to withdraw, it may
///   claim a ticket only with an inclusion proof into a batch committed in a block strictly before
///   the reveal. Before the reveal nobody but the user can compute the identity's nullifiers, so a
///   batch committed earlier cannot hold invented ones.
/// - The user cannot deny served tickets: those claims are paid from the deposit, the rest is
///   refunded after the claim window.
/// - A user who double-spends a ticket hands out two Shamir shares of the secret; whoever recovers
///   it may `slash` the whole deposit while the member is still active.
///
/// Known limitations:
/// - `slash` and `requestWithdraw` put the secret in a public transaction. Anyone who sees a
///   `slash` in the mempool can copy it with their own beneficiary (front-running); a commit-reveal
///   scheme would fix that.
/// - A provider that watches the mempool and gets a `commitServed` mined in an earlier block than a
///   still pending `requestWithdraw` could commit nullifiers it never served. Users should submit
///   `requestWithdraw` through a private relay or with a fee that gets it into the next block.
/// - Tickets served after the provider's last `commitServed` and before the reveal cannot be
///   claimed; providers bound that loss by committing often.
/// - Proofs against roots from before a leaf was zeroed still verify off-chain. The provider must
///   refuse the nullifiers of revealed identities, which it can compute from the revealed secret.
contract ZkApiCredits {
    /// Depth of RLN's membership tree (2^20 leaves).
    uint256 public constant TREE_DEPTH = 20;
    /// How many past roots stay valid for proofs made just before a tree change.
    uint256 public constant ROOT_HISTORY_SIZE = 64;
    /// RLN's circuit takes the limit as a field element; 16 bits keep the claim bitmap small.
    uint256 public constant MAX_LIMIT = 65535;
    /// Gas given to a pushed payment; a receiver that needs more withdraws with `withdrawOwed`.
    uint256 internal constant PAYMENT_GAS = 100_000;

    enum State {
        None,
        Active,
        Withdrawing,
        Withdrawn,
        Slashed
    }

    struct Member {
        address depositor;
        uint32 leafIndex;
        uint16 limit;
        State state;
        /// Wei still held for this member; zero once slashed or withdrawn.
        uint256 amount;
    }

    struct Withdrawal {
        uint256 secret;
        uint64 revealBlock;
        /// Unix time at which the claim window closes and `finalizeWithdraw` becomes possible.
        uint64 deadline;
        /// Tickets the provider proved it served.
        uint32 spent;
    }

    /// What checking a claimed ticket needs, gathered once per `claimServed` call.
    struct Ticket {
        uint256 idCommitment;
        uint256 secret;
        uint256 revealBlock;
        uint256 limit;
    }

    struct Batch {
        bytes32 root;
        uint64 blockNumber;
    }

    uint256 public immutable price;
    uint256 public immutable externalNullifier;
    uint256 public immutable claimWindow;
    address public immutable provider;

    uint256 public leafCount;
    /// `filledSubtrees[i]` is the node at level `i` left of the next insertion's path whenever
    /// that path goes right at level `i`; the only node an append needs besides the zero hashes.
    uint256[TREE_DEPTH] private filledSubtrees;
    uint256[ROOT_HISTORY_SIZE] private rootHistory;
    uint256 private rootCursor;

    mapping(uint256 => Member) private members;
    mapping(uint256 => Withdrawal) private withdrawals;
    /// idCommitment => word => bitmap of claimed message ids (`messageId >> 8`, `messageId & 255`).
    mapping(uint256 => mapping(uint256 => uint256)) private claimedTickets;
    Batch[] private batches;
    mapping(address => uint256) public owed;

    event Deposited(
        uint256 indexed idCommitment,
        uint256 leafIndex,
        uint256 limit,
        uint256 amount,
        uint256 root,
        uint256 rateCommitment
    );
    /// Carries the secret (public in the call anyway) so that providers can refuse the identity's
    /// remaining tickets, whose proofs against earlier roots still verify.
    event Slashed(
        uint256 indexed idCommitment, address indexed beneficiary, uint256 amount, uint256 root, uint256 secret
    );
    event ServedCommitted(uint256 indexed batchIndex, bytes32 root);
    event WithdrawRequested(uint256 indexed idCommitment, uint256 secret, uint256 deadline, uint256 root);
    event TicketsClaimed(uint256 indexed idCommitment, uint256 count, uint256 spent);
    event WithdrawFinalized(uint256 indexed idCommitment, uint256 refund, uint256 providerAmount);
    event PaymentDeferred(address indexed to, uint256 amount);

    error ZeroPrice();
    error ZeroClaimWindow();
    error ExternalNullifierNotInField(uint256 externalNullifier);
    error ZeroCommitment();
    error CommitmentNotInField(uint256 idCommitment);
    error AlreadyRegistered(uint256 idCommitment);
    error ValueNotMultipleOfPrice(uint256 value, uint256 price);
    error LimitOutOfRange(uint256 limit, uint256 maxLimit);
    error TreeFull();
    error SecretNotInField();
    error UnknownMember(uint256 idCommitment);
    error WrongState(uint256 idCommitment, State state);
    error NotDepositor(address caller, address depositor);
    error NotProvider(address caller);
    error WrongSiblingCount(uint256 given, uint256 expected);
    error SiblingNotInField(uint256 level);
    error SiblingsDoNotMatchRoot(uint256 root);
    error EmptyBatchRoot();
    error LengthMismatch(uint256 messageIds, uint256 batchIndices, uint256 proofs);
    error MessageIdsNotIncreasing(uint256 messageId);
    error MessageIdOutOfRange(uint256 messageId, uint256 limit);
    error TicketAlreadyClaimed(uint256 messageId);
    error UnknownBatch(uint256 batchIndex);
    error BatchNotBeforeReveal(uint256 batchIndex, uint256 batchBlock, uint256 revealBlock);
    error InclusionProofInvalid(uint256 messageId, uint256 batchIndex);
    error ClaimWindowClosed(uint256 deadline);
    error ClaimWindowOpen(uint256 deadline);
    error NothingOwed();
    error TransferFailed();

    constructor(uint256 pricePerCall, uint256 externalNullifier_, uint256 claimWindow_) {
        if (pricePerCall == 0) revert ZeroPrice();
        if (claimWindow_ == 0) revert ZeroClaimWindow();
        if (externalNullifier_ >= SNARK_SCALAR_FIELD) revert ExternalNullifierNotInField(externalNullifier_);
        price = pricePerCall;
        externalNullifier = externalNullifier_;
        claimWindow = claimWindow_;
        provider = msg.sender;
        rootHistory[0] = _zero(TREE_DEPTH);
    }

    // ---------------------------------------------------------------- deposits

    function deposit(uint256 idCommitment) external payable {
        if (idCommitment == 0) revert ZeroCommitment();
        if (idCommitment >= SNARK_SCALAR_FIELD) revert CommitmentNotInField(idCommitment);
        if (members[idCommitment].state != State.None) revert AlreadyRegistered(idCommitment);
        if (msg.value % price != 0) revert ValueNotMultipleOfPrice(msg.value, price);
        uint256 limit = msg.value / price;
        if (limit == 0 || limit > MAX_LIMIT) revert LimitOutOfRange(limit, MAX_LIMIT);

        uint256 leaf = PoseidonT3.hash([idCommitment, limit]);
        (uint256 index, uint256 newRoot) = _insert(leaf);
        members[idCommitment] = Member({
            depositor: msg.sender,
            leafIndex: uint32(index),
            limit: uint16(limit),
            state: State.Active,
            amount: msg.value
        });
        emit Deposited(idCommitment, index, limit, msg.value, newRoot, leaf);
    }

    // ---------------------------------------------------------------- slashing

    /// Takes the whole deposit of an active member whose secret became known, normally by
    /// combining the two shares of a double-spent ticket. Only while active: once the user asked to
    /// withdraw the secret is public, and letting anyone slash then would let anyone take the
    /// refund; the provider's remedy from then on is `claimServed`.
    function slash(uint256 secret, address payable beneficiary, uint256[] calldata siblings) external {
        if (secret >= SNARK_SCALAR_FIELD) revert SecretNotInField();
        uint256 idCommitment = PoseidonT2.hash([secret]);
        Member storage m = _member(idCommitment);
        if (m.state != State.Active) revert WrongState(idCommitment, m.state);

        uint256 newRoot = _zeroLeaf(idCommitment, m, siblings);
        uint256 amount = m.amount;
        m.amount = 0;
        m.state = State.Slashed;
        emit Slashed(idCommitment, beneficiary, amount, newRoot, secret);
        _pay(beneficiary, amount);
    }

    // ---------------------------------------------------------------- withdrawal

    /// Commits a batch of nullifiers the provider has served. `batchRoot` is the root of a binary
    /// keccak256 tree: a leaf is `keccak256(nullifier as 32 bytes big-endian)`, a parent is
    /// `keccak256(min(a, b) ++ max(a, b))` (sorted pairs, so proofs carry no path bits), and a node
    /// without a partner moves up a level unchanged. Leaves hash 32 bytes and parents 64, so a
    /// parent can never pass as a leaf.
    function commitServed(bytes32 batchRoot) external {
        if (msg.sender != provider) revert NotProvider(msg.sender);
        if (batchRoot == bytes32(0)) revert EmptyBatchRoot();
        batches.push(Batch({root: batchRoot, blockNumber: uint64(block.number)}));
        emit ServedCommitted(batches.length - 1, batchRoot);
    }

    /// Reveals the secret, removes the member from the tree and opens the provider's claim window.
    function requestWithdraw(uint256 secret, uint256[] calldata siblings) external {
        if (secret >= SNARK_SCALAR_FIELD) revert SecretNotInField();
        uint256 idCommitment = PoseidonT2.hash([secret]);
        Member storage m = _member(idCommitment);
        if (m.state != State.Active) revert WrongState(idCommitment, m.state);
        if (msg.sender != m.depositor) revert NotDepositor(msg.sender, m.depositor);

        uint256 newRoot = _zeroLeaf(idCommitment, m, siblings);
        m.state = State.Withdrawing;
        uint256 deadline = block.timestamp + claimWindow;
        withdrawals[idCommitment] =
            Withdrawal({secret: secret, revealBlock: uint64(block.number), deadline: uint64(deadline), spent: 0});
        emit WithdrawRequested(idCommitment, secret, deadline, newRoot);
    }

    /// Proves that the provider served the tickets `messageIds` (strictly increasing) of a member
    /// that is withdrawing: `proofs[k]` shows the ticket's nullifier is in batch `batchIndices[k]`.
    function claimServed(
        uint256 idCommitment,
        uint256[] calldata messageIds,
        uint256[] calldata batchIndices,
        bytes32[][] calldata proofs
    ) external {
        if (msg.sender != provider) revert NotProvider(msg.sender);
        if (messageIds.length != batchIndices.length || messageIds.length != proofs.length) {
            revert LengthMismatch(messageIds.length, batchIndices.length, proofs.length);
        }
        Member storage m = _member(idCommitment);
        if (m.state != State.Withdrawing) revert WrongState(idCommitment, m.state);
        Withdrawal storage w = withdrawals[idCommitment];
        if (block.timestamp >= w.deadline) revert ClaimWindowClosed(w.deadline);

        Ticket memory t = Ticket({idCommitment: idCommitment, secret: w.secret, revealBlock: w.revealBlock, limit: m.limit});
        for (uint256 k = 0; k < messageIds.length; ++k) {
            if (k > 0 && messageIds[k] <= messageIds[k - 1]) revert MessageIdsNotIncreasing(messageIds[k]);
            _claimTicket(t, messageIds[k], batchIndices[k], proofs[k]);
        }
        // At most `limit` distinct ids fit below `limit`, so `spent` never exceeds it.
        w.spent += uint32(messageIds.length);
        emit TicketsClaimed(idCommitment, messageIds.length, w.spent);
    }

    /// After the claim window: the provider gets the proven tickets, the depositor the rest.
    function finalizeWithdraw(uint256 idCommitment) external {
        Member storage m = _member(idCommitment);
        if (m.state != State.Withdrawing) revert WrongState(idCommitment, m.state);
        Withdrawal storage w = withdrawals[idCommitment];
        if (block.timestamp < w.deadline) revert ClaimWindowOpen(w.deadline);

        uint256 providerAmount = uint256(w.spent) * price;
        uint256 refund = m.amount - providerAmount;
        m.amount = 0;
        m.state = State.Withdrawn;
        emit WithdrawFinalized(idCommitment, refund, providerAmount);
        _pay(payable(m.depositor), refund);
        _pay(payable(provider), providerAmount);
    }

    /// Pays out what a pushed payment could not deliver.
    function withdrawOwed() external {
        uint256 amount = owed[msg.sender];
        if (amount == 0) revert NothingOwed();
        owed[msg.sender] = 0;
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert TransferFailed();
    }

    // ---------------------------------------------------------------- views

    function root() public view returns (uint256) {
        return rootHistory[rootCursor];
    }

    function isKnownRoot(uint256 candidate) external view returns (bool) {
        if (candidate == 0) return false;
        for (uint256 i = 0; i < ROOT_HISTORY_SIZE; ++i) {
            if (rootHistory[i] == candidate) return true;
        }
        return false;
    }

    function member(uint256 idCommitment) external view returns (Member memory) {
        return members[idCommitment];
    }

    function withdrawal(uint256 idCommitment) external view returns (Withdrawal memory) {
        return withdrawals[idCommitment];
    }

    function batchCount() external view returns (uint256) {
        return batches.length;
    }

    function batch(uint256 batchIndex) external view returns (Batch memory) {
        if (batchIndex >= batches.length) revert UnknownBatch(batchIndex);
        return batches[batchIndex];
    }

    function ticketClaimed(uint256 idCommitment, uint256 messageId) external view returns (bool) {
        return claimedTickets[idCommitment][messageId >> 8] & (1 << (messageId & 255)) != 0;
    }

    // ---------------------------------------------------------------- internals

    function _member(uint256 idCommitment) internal view returns (Member storage m) {
        m = members[idCommitment];
        if (m.state == State.None) revert UnknownMember(idCommitment);
    }

    function _zero(uint256 level) internal pure returns (uint256) {
        // zk-kit's constants: level 0 is the empty leaf 0, level i+1 is PoseidonT3 of two level-i
        // zeros, the same empty tree as RLN's.
        return InternalBinaryIMT._defaultZero(level);
    }

    function _pushRoot(uint256 newRoot) internal {
        uint256 cursor = (rootCursor + 1) % ROOT_HISTORY_SIZE;
        rootCursor = cursor;
        rootHistory[cursor] = newRoot;
    }

    function _insert(uint256 leaf) internal returns (uint256 index, uint256 newRoot) {
        index = leafCount;
        if (index >= 1 << TREE_DEPTH) revert TreeFull();
        // After this append the node completed at level `carry` (the number of trailing ones of
        // `index`) is the left neighbour of the next path; every other stored node stays valid.
        uint256 carry = 0;
        while (carry < TREE_DEPTH && (index >> carry) & 1 == 1) ++carry;

        uint256 node = leaf;
        for (uint256 level = 0; level < TREE_DEPTH; ++level) {
            if (level == carry) filledSubtrees[level] = node;
            if ((index >> level) & 1 == 0) {
                node = PoseidonT3.hash([node, _zero(level)]);
            } else {
                node = PoseidonT3.hash([filledSubtrees[level], node]);
            }
        }
        leafCount = index + 1;
        newRoot = node;
        _pushRoot(newRoot);
    }

    /// Sets the member's leaf to 0, checking `siblings` (leaf level first) against the current root.
    function _zeroLeaf(uint256 idCommitment, Member storage m, uint256[] calldata siblings)
        internal
        returns (uint256 newRoot)
    {
        if (siblings.length != TREE_DEPTH) revert WrongSiblingCount(siblings.length, TREE_DEPTH);
        uint256 index = m.leafIndex;
        uint256 count = leafCount;
        uint256 oldNode = PoseidonT3.hash([idCommitment, uint256(m.limit)]);
        uint256 newNode = 0;
        for (uint256 level = 0; level < TREE_DEPTH; ++level) {
            uint256 sibling = siblings[level];
            if (sibling >= SNARK_SCALAR_FIELD) revert SiblingNotInField(level);
            uint256 position = index >> level;
            // Keep the append path's left neighbour current when this path runs through it.
            if (position ^ 1 == count >> level) filledSubtrees[level] = newNode;
            uint256 zero = _zero(level);
            bool left = position & 1 == 0;
            oldNode = left ? PoseidonT3.hash([oldNode, sibling]) : PoseidonT3.hash([sibling, oldNode]);
            if (newNode == zero && sibling == zero) {
                // Two empty subtrees: the parent is the next zero hash, no need to pay for Poseidon.
                newNode = _zero(level + 1);
            } else {
                newNode = left ? PoseidonT3.hash([newNode, sibling]) : PoseidonT3.hash([sibling, newNode]);
            }
        }
        uint256 current = root();
        if (oldNode != current) revert SiblingsDoNotMatchRoot(current);
        newRoot = newNode;
        _pushRoot(newRoot);
    }

    /// Marks one ticket as served, or reverts unless it is new and below the limit.
    function _claimTicket(Ticket memory t, uint256 messageId, uint256 batchIndex, bytes32[] calldata proof)
        internal
    {
        if (messageId >= t.limit) revert MessageIdOutOfRange(messageId, t.limit);
        uint256 bit = 1 << (messageId & 255);
        uint256 word = claimedTickets[t.idCommitment][messageId >> 8];
        if (word & bit != 0) revert TicketAlreadyClaimed(messageId);
        _checkServed(t, messageId, batchIndex, proof);
        claimedTickets[t.idCommitment][messageId >> 8] = word | bit;
    }

    /// Reverts unless the ticket's nullifier is in a batch committed before the secret was revealed.
    function _checkServed(Ticket memory t, uint256 messageId, uint256 batchIndex, bytes32[] calldata proof)
        internal
        view
    {
        if (batchIndex >= batches.length) revert UnknownBatch(batchIndex);
        Batch storage b = batches[batchIndex];
        if (b.blockNumber >= t.revealBlock) revert BatchNotBeforeReveal(batchIndex, b.blockNumber, t.revealBlock);
        if (!_inBatch(b.root, _nullifier(t.secret, messageId), proof)) {
            revert InclusionProofInvalid(messageId, batchIndex);
        }
    }

    /// RLN's nullifier of ticket `messageId`: `Poseidon([Poseidon([secret, externalNullifier, messageId])])`.
    function _nullifier(uint256 secret, uint256 messageId) internal view returns (uint256) {
        return PoseidonT2.hash([PoseidonT4.hash([secret, externalNullifier, messageId])]);
    }

    function _inBatch(bytes32 batchRoot, uint256 nullifier, bytes32[] calldata proof) internal pure returns (bool) {
        bytes32 node = keccak256(abi.encode(nullifier));
        for (uint256 i = 0; i < proof.length; ++i) {
            bytes32 sibling = proof[i];
            node = node < sibling
                ? keccak256(abi.encodePacked(node, sibling))
                : keccak256(abi.encodePacked(sibling, node));
        }
        return node == batchRoot;
    }

    /// Pushes `amount` to `to`; a receiver that refuses it (or needs more gas) collects it later
    /// with `withdrawOwed`, so no receiver can block the other side's payment.
    function _pay(address payable to, uint256 amount) internal {
        if (amount == 0) return;
        (bool ok,) = to.call{value: amount, gas: PAYMENT_GAS}("");
        if (!ok) {
            owed[to] += amount;
            emit PaymentDeferred(to, amount);
        }
    }
}
