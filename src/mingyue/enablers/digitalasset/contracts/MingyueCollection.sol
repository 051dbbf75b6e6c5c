// SPDX-License-Identifier: Apache-2.0
// A digital-collectible collection (ERC-721) of the mingyue sandbox: one token per whole work
// (no fractional shares, 2022 initiative point 2), minted by the issuer only up to the collection's
// cap, with per-token and per-account freezes and a pause held by the regulator role. Every
// transfer, mint and burn goes through _update, where the freezes and the pause are enforced.
pragma solidity ^0.8.24;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ERC721Burnable} from "@openzeppelin/contracts/token/ERC721/extensions/ERC721Burnable.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";

contract MingyueCollection is ERC721, ERC721Burnable, AccessControl, Pausable {
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    bytes32 public constant REGULATOR_ROLE = keccak256("REGULATOR_ROLE");

    uint256 public immutable cap;
    uint256 public minted;
    mapping(uint256 => bytes32) public workHash;
    mapping(uint256 => bool) public tokenFrozen;
    mapping(address => bool) public accountFrozen;

    error CapExceeded(uint256 cap);
    error TokenIsFrozen(uint256 tokenId);
    error AccountIsFrozen(address account);

    event Minted(address indexed to, uint256 indexed tokenId, bytes32 workHash);
    event TokenFreezeSet(uint256 indexed tokenId, bool frozen);
    event AccountFreezeSet(address indexed account, bool frozen);

    constructor(
        string memory name_,
        string memory symbol_,
        uint256 cap_,
        address issuer,
        address regulator
    ) ERC721(name_, symbol_) {
        cap = cap_;
        _grantRole(DEFAULT_ADMIN_ROLE, issuer);
        _grantRole(MINTER_ROLE, issuer);
        _grantRole(REGULATOR_ROLE, regulator);
        // The regulator's role is administered by the regulator, never by the issuer.
        _setRoleAdmin(REGULATOR_ROLE, REGULATOR_ROLE);
    }

    function mint(address to, uint256 tokenId, bytes32 hash) external onlyRole(MINTER_ROLE) {
        if (minted >= cap) revert CapExceeded(cap);
        minted += 1;
        workHash[tokenId] = hash;
        _safeMint(to, tokenId);
        emit Minted(to, tokenId, hash);
    }

    function freezeToken(uint256 tokenId, bool frozen) external onlyRole(REGULATOR_ROLE) {
        tokenFrozen[tokenId] = frozen;
        emit TokenFreezeSet(tokenId, frozen);
    }

    function freezeAccount(address account, bool frozen) external onlyRole(REGULATOR_ROLE) {
        accountFrozen[account] = frozen;
        emit AccountFreezeSet(account, frozen);
    }

    function pause() external onlyRole(REGULATOR_ROLE) {
        _pause();
    }

    function unpause() external onlyRole(REGULATOR_ROLE) {
        _unpause();
    }

    function _update(address to, uint256 tokenId, address auth)
        internal
        override
        whenNotPaused
        returns (address)
    {
        if (tokenFrozen[tokenId]) revert TokenIsFrozen(tokenId);
        address from = _ownerOf(tokenId);
        if (from != address(0) && accountFrozen[from]) revert AccountIsFrozen(from);
        if (to != address(0) && accountFrozen[to]) revert AccountIsFrozen(to);
        return super._update(to, tokenId, auth);
    }

    function supportsInterface(bytes4 interfaceId)
        public
        view
        override(ERC721, AccessControl)
        returns (bool)
    {
        return super.supportsInterface(interfaceId);
    }
}
